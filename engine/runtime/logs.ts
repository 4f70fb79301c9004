import { promises as fs, createReadStream } from 'node:fs';

/** One line of a container's k8s-file log, partial chunks joined. */
export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;      // without the trailing newline
  complete: boolean; // false only for a final chunk that never got its newline
}

/**
 * Parses conmon's k8s-file format: `<RFC3339Nano> <stdout|stderr> <F|P> <text>`; P marks a chunk
 * of a longer line (or one still without newline), F the end of a line.
 */
export function parseK8sLog(content: string): LogLine[] {
  const out: LogLine[] = [];
  const partial: Record<string, LogLine | undefined> = {};
  for (const raw of content.split('\n')) {
    if (!raw) continue;
    const a = raw.indexOf(' ');
    const b = raw.indexOf(' ', a + 1);
    const c = raw.indexOf(' ', b + 1);
    if (a < 0 || b < 0) continue;
    const time = raw.slice(0, a);
    const stream = raw.slice(a + 1, b) === 'stderr' ? 'stderr' : 'stdout';
    const tag = c < 0 ? raw.slice(b + 1) : raw.slice(b + 1, c);
    const text = c < 0 ? '' : raw.slice(c + 1);
    const prev = partial[stream];
    if (tag === 'P') {
      partial[stream] = prev ? { ...prev, text: prev.text + text } : { time, stream, text, complete: false };
      continue;
    }
    out.push(prev ? { ...prev, text: prev.text + text, complete: true } : { time, stream, text, complete: true });
    partial[stream] = undefined;
  }
  for (const p of Object.values(partial)) if (p) out.push(p);
  return out;
}

export interface LogOptions {
  tail?: number;
  timestamps?: boolean;
  since?: string;
  follow?: boolean;
  /** polled while following: stop once it returns false and the file is drained */
  isRunning?: () => Promise<boolean>;
  prefix?: string;
  write?: (stream: 'stdout' | 'stderr', data: string) => void;
}

const defaultWrite = (stream: 'stdout' | 'stderr', data: string) => {
  (stream === 'stderr' ? process.stderr : process.stdout).write(data);
};

function render(l: LogLine, o: LogOptions): string {
  return `${o.prefix ?? ''}${o.timestamps ? `${l.time} ` : ''}${l.text}${l.complete ? '\n' : ''}`;
}

/** Prints a log (optionally following it). Reads only what was appended since the last read. */
export async function printLogs(file: string, o: LogOptions = {}): Promise<void> {
  const write = o.write ?? defaultWrite;
  let content = '';
  try {
    content = await fs.readFile(file, 'utf8');
  } catch (err: any) {
    if (err?.code !== 'ENOENT') throw err;
  }
  // Only complete records are consumed; a trailing record without newline waits for more data.
  let consumed = content.lastIndexOf('\n') + 1;
  let lines = parseK8sLog(content.slice(0, consumed)).filter((l) => !o.since || l.time >= o.since);
  if (o.tail !== undefined && o.tail >= 0) lines = lines.slice(Math.max(0, lines.length - o.tail));
  for (const l of lines) write(l.stream, render(l, o));
  if (!o.follow) return;
  let offset = Buffer.byteLength(content.slice(0, consumed));
  let pending = '';
  for (;;) {
    const running = o.isRunning ? await o.isRunning() : false;
    const chunk = await readFrom(file, offset);
    if (chunk.length) {
      offset += chunk.length;
      pending += chunk.toString('utf8');
      consumed = pending.lastIndexOf('\n') + 1;
      for (const l of parseK8sLog(pending.slice(0, consumed))) write(l.stream, render(l, o));
      pending = pending.slice(consumed);
      continue;
    }
    if (!running) break;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function readFrom(file: string, offset: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of createReadStream(file, { start: offset })) chunks.push(c as Buffer);
  } catch (err: any) {
    if (err?.code !== 'ENOENT') throw err;
  }
  return Buffer.concat(chunks);
}
