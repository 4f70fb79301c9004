import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Write a file atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fs.open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  const dh = await fs.open(dir, 'r');
  try { await dh.sync(); } finally { await dh.close(); }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Read JSON, or undefined when the file does not exist. The read is synchronous: state files are
 * small and local, and fs.promises.readFile takes four trips through the thread pool (open, stat,
 * read, close), ~8 times the cost when a listing reads dozens of records (a play of 10 pods reads
 * over a thousand).
 */
export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err: any) {
    if (err?.code === 'ENOENT') return undefined;
    throw err;
  }
}
