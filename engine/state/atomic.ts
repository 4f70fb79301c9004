import { promises as fs, closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { warn } from '../log.js';

/** The temp file of an atomic write: `.<name>.<pid>-<rand>.tmp`, so a leftover names its writer. */
const TEMP_RE = /^\..+\.(\d+)-[0-9a-f]{12}\.tmp$/;

/** Write a file atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
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
 * Removes the temp files of atomic writes in dir whose writer is gone (killed between its write
 * and its rename); a live writer's are kept. Names of the old form (no pid) count when a minute old.
 */
export async function collectTempFiles(dir: string, alive: (pid: number) => boolean): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const gone: string[] = [];
  for (const n of names) {
    if (!n.startsWith('.') || !n.endsWith('.tmp')) continue;
    const m = TEMP_RE.exec(n);
    const f = path.join(dir, n);
    if (m) {
      if (Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    } else {
      const st = await fs.lstat(f).catch(() => undefined);
      if (!st || !st.isFile() || Date.now() - st.mtimeMs < 60_000) continue;
    }
    await fs.rm(f, { force: true });
    gone.push(f);
  }
  return gone;
}

/** Damaged records already reported by this process (a listing reads them many times per command). */
const reported = new Set<string>();

/** Says once per process that a damaged record is skipped, naming the file and what is wrong. */
export function reportDamaged(file: string, why: string): void {
  if (reported.has(file)) return;
  reported.add(file);
  warn(`skipping damaged state record ${file}: ${why} (remove it, or run system reset)`);
}

/**
 * Read a JSON record, or undefined when the file does not exist. A damaged one (empty, torn JSON,
 * a directory, a link, a FIFO or other non-regular file, unreadable, or failing `valid`) is skipped
 * with a warning naming the file, never an error: one damaged record must not stop a listing,
 * play, down or reset. The file is opened O_NOFOLLOW|O_NONBLOCK and must be a regular file, so a
 * planted FIFO cannot hang the command. The read is synchronous: state files are small and local,
 * and fs.promises.readFile takes four trips through the thread pool (open, stat, read, close), ~8
 * times the cost when a listing reads dozens of records (a play of 10 pods reads over a thousand).
 */
export async function readJson<T>(file: string, valid?: (v: any) => string | undefined): Promise<T | undefined> {
  return readJsonSync<T>(file, valid);
}

export function readJsonSync<T>(file: string, valid?: (v: any) => string | undefined): T | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err: any) {
    if (err?.code === 'ENOENT') return undefined;
    reportDamaged(file, err?.code === 'ELOOP' ? 'a symbolic link, not a file' : (err?.message ?? String(err)));
    return undefined;
  }
  let text: string;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      reportDamaged(file, st.isDirectory() ? 'a directory, not a file' : 'not a regular file');
      return undefined;
    }
    text = readFileSync(fd, 'utf8');
  } catch (err: any) {
    reportDamaged(file, err?.message ?? String(err));
    return undefined;
  } finally {
    closeSync(fd);
  }
  if (!text.trim()) {
    reportDamaged(file, 'empty');
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    reportDamaged(file, `torn or invalid JSON (${(err as Error).message})`);
    return undefined;
  }
  const bad = value === null || typeof value !== 'object' ? 'not a JSON object' : valid?.(value);
  if (bad) {
    reportDamaged(file, bad);
    return undefined;
  }
  return value as T;
}

/** The check of a record listed by name (networks, volumes, secrets): a string `name`. */
export const namedRecord = (v: any): string | undefined => (typeof v.name === 'string' ? undefined : 'no name: not a record of this kind');
