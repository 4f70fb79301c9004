// Streams both APIs share: Docker's multiplexed stream format (8-byte frame headers: stream 1
// stdout, 2 stderr, then the length), hijacked connections (attach, exec start), waiting for a
// container's exit, and the exec sessions of this service (create -> start -> inspect).
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Ctx } from './routes.js';
import type { Opener } from '../app/engine.js';
import { ApiError } from './http.js';
import { PeapodError } from '../../engine/errors.js';
import { hasEnded, isRunning, neverStarted } from '../../engine/pod/status.js';
import type { ContainerRecord } from '../../engine/types.js';

/** One frame of the multiplexed stream. */
export function frame(stream: 1 | 2, data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

/** A sink the output goes to: a hijacked socket or an HTTP response. */
export interface Sink { write(b: Buffer): void; end(): void; closed(): boolean }

/**
 * Takes over the connection for a raw stream, as Docker and Podman do: with an Upgrade request,
 * 101 and the upgrade headers; otherwise (Podman's exec start) 200 and the stream after the headers.
 */
export function hijack(ctx: Ctx, contentType = 'application/vnd.docker.raw-stream'): Sink {
  let socket: Socket;
  if (ctx.hijack) {
    socket = ctx.hijack.socket;
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
  } else {
    socket = ctx.req.socket;
    // the response is ours from here: node's own writer stays out of it
    ctx.res.detachSocket(socket);
    socket.write(`HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n\r\n`);
  }
  ctx.busy(socket);
  socket.on('error', () => undefined);
  return {
    write: (b) => { if (!socket.destroyed && socket.writable) socket.write(b); },
    end: () => { if (!socket.destroyed) socket.end(); },
    closed: () => socket.destroyed || !socket.writable,
  };
}

/** The response as a stream of frames (logs): chunked, headers sent at once. */
export function responseSink(ctx: Ctx, contentType = 'application/vnd.docker.raw-stream'): Sink {
  ctx.res.writeHead(200, { 'Content-Type': contentType });
  ctx.res.flushHeaders();
  return {
    write: (b) => { if (!ctx.res.destroyed) ctx.res.write(b); },
    end: () => { if (!ctx.res.destroyed) ctx.res.end(); },
    closed: () => ctx.res.destroyed || ctx.res.writableEnded,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A container's output from the start of its log: followed while it runs, when asked. */
export async function streamLogs(open: Opener, ref: string, sink: Sink, o: { stdout: boolean; stderr: boolean; follow: boolean; tail?: number; timestamps?: boolean; raw?: boolean }): Promise<void> {
  const { logsOf } = await import('../app/containers.js');
  await logsOf(open, ref, {
    follow: o.follow, tail: o.tail, timestamps: o.timestamps,
    write: (stream, data) => {
      if ((stream === 'stdout' && !o.stdout) || (stream === 'stderr' && !o.stderr) || sink.closed()) return;
      sink.write(o.raw ? Buffer.from(data) : frame(stream === 'stderr' ? 2 : 1, data));
    },
  });
}

/** Waits until a container has started (or ended, or is gone); its record then. */
export async function untilStarted(open: Opener, id: string, gone: () => boolean): Promise<ContainerRecord | undefined> {
  for (;;) {
    const c = await (await open()).containers.find(id);
    if (!c || !neverStarted(c) || gone()) return c;
    await sleep(50);
  }
}

/** Exit codes of containers this service removed itself (AutoRemove): a wait for "removed" reports them. */
const removedExits = new Map<string, number>();

export function recordRemovedExit(id: string, code: number): void {
  removedExits.set(id, code);
  if (removedExits.size > 1000) removedExits.delete(removedExits.keys().next().value!);
}

/**
 * Docker's wait conditions: not-running (now, if not running), next-exit (the next exit from now),
 * removed (once the container is gone). Its exit code.
 */
export async function waitFor(open: Opener, ref: string, condition: string, gone: () => boolean): Promise<number> {
  const engine = await open();
  const first = await engine.containers.get(ref);
  const id = first.id;
  let last = first;
  const startedAt = first.state.startedAt;
  for (;;) {
    const c = await engine.containers.find(id);
    if (!c) return removedExits.get(id) ?? last.state.exitCode ?? 0;
    last = c;
    const ended = hasEnded(c) || (!isRunning(c) && !neverStarted(c));
    if (condition === 'removed') { /* keep polling until it is gone */ } else if (condition === 'next-exit') {
      if (ended && c.state.startedAt !== undefined && (c.state.startedAt !== startedAt || !isRunning(first))) return c.state.exitCode ?? 0;
    } else if (!isRunning(c) && (ended || neverStarted(c))) {
      return c.state.exitCode ?? 0;
    }
    if (gone()) throw new ApiError(499, 'the client went away', 'client disconnected');
    await sleep(100);
  }
}

/** An exec session: made by exec create, run by exec start, read by exec inspect. */
export interface ExecSession {
  id: string;
  container: string;
  cmd: string[]; env?: string[]; workingDir?: string; user?: string; tty: boolean;
  attachStdin: boolean; attachStdout: boolean; attachStderr: boolean;
  running: boolean; exitCode?: number; pid?: number;
}

const sessions = new Map<string, ExecSession>();

export async function createExec(open: Opener, ref: string, b: any): Promise<ExecSession> {
  const engine = await open();
  const c = await engine.containers.get(ref);
  if (!isRunning(c)) throw new PeapodError('state', `can only create exec sessions on running containers: container state improper`);
  const cmd = b?.Cmd;
  if (!Array.isArray(cmd) || !cmd.length || !cmd.every((x) => typeof x === 'string')) throw new ApiError(400, 'exec: Cmd must be a non-empty list of strings', 'invalid argument');
  if (sessions.size > 1000) for (const [k, s] of sessions) if (!s.running) sessions.delete(k);
  const s: ExecSession = {
    id: randomBytes(32).toString('hex'), container: c.id, cmd, env: b.Env ?? undefined, workingDir: b.WorkingDir || undefined, user: b.User || undefined,
    tty: !!b.Tty, attachStdin: !!b.AttachStdin, attachStdout: b.AttachStdout !== false, attachStderr: b.AttachStderr !== false, running: false,
  };
  sessions.set(s.id, s);
  return s;
}

export function getExec(id: string): ExecSession {
  const s = sessions.get(id);
  if (!s) throw new PeapodError('not-found', `no exec session with ID ${id} found: no such exec session`);
  return s;
}

/** Runs the session's command, its output as frames on the sink (raw with a terminal); its stdin from the connection. */
export async function runExec(open: Opener, s: ExecSession, sink: Sink, stdin?: NodeJS.ReadableStream): Promise<number> {
  const { execIn } = await import('../app/containers.js');
  s.running = true;
  try {
    s.exitCode = await execIn(open, s.container, {
      args: s.cmd, env: s.env, cwd: s.workingDir, user: s.user,
      io: {
        stdin: s.attachStdin ? stdin : undefined,
        stdout: (d) => { if (s.attachStdout) sink.write(s.tty ? d : frame(1, d)); },
        stderr: (d) => { if (s.attachStderr) sink.write(s.tty ? d : frame(2, d)); },
        onPid: (pid) => { s.pid = pid; },
      },
    });
  } catch (err) {
    s.exitCode = err instanceof PeapodError ? err.exitCode : 126;
    if (s.attachStderr) sink.write(s.tty ? Buffer.from(`${(err as Error).message}\n`) : frame(2, `${(err as Error).message}\n`));
  } finally {
    s.running = false;
  }
  return s.exitCode;
}

/** Podman's and Docker's exec inspect (InspectExecSession / ContainerExecInspect share these names). */
export function execInspectView(s: ExecSession) {
  return {
    ID: s.id, Running: s.running, ExitCode: s.exitCode ?? 0, Pid: s.pid ?? 0, ContainerID: s.container,
    OpenStdin: s.attachStdin, OpenStdout: s.attachStdout, OpenStderr: s.attachStderr, CanRemove: !s.running, DetachKeys: '',
    ProcessConfig: { tty: s.tty, entrypoint: s.cmd[0], arguments: s.cmd.slice(1), privileged: false, user: s.user ?? '' },
  };
}

/**
 * A request body received into a private file (0600 in a 0700 directory of its own), at most
 * `limit` bytes (413 beyond, declared or not). A body that does not arrive whole (the client went
 * away) leaves no file and rejects.
 */
export async function receiveUpload(ctx: Ctx, limit: number): Promise<{ file: string; size: number; remove: () => Promise<void> }> {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { createWriteStream } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { pipeline } = await import('node:stream/promises');
  const { Transform } = await import('node:stream');
  const declared = Number(ctx.req.headers['content-length'] ?? NaN);
  if (declared > limit) throw new ApiError(413, `request body of ${declared} bytes is larger than the limit of ${limit} bytes`, 'request body too large');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peapod-upload-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  const file = path.join(dir, 'body');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > limit) done(new ApiError(413, `request body is larger than the limit of ${limit} bytes`, 'request body too large'));
      else done(null, chunk);
    },
  });
  try {
    let aborted = false;
    ctx.req.on('aborted', () => { aborted = true; });
    await pipeline(ctx.req, meter, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    if (aborted || !ctx.req.complete) throw new ApiError(400, 'the client went away before the request body ended', 'client disconnected');
    return { file, size, remove };
  } catch (err) {
    await remove();
    if (err instanceof ApiError) throw err;
    throw new ApiError(400, `receiving the request body: ${(err as Error).message}`, 'client disconnected');
  }
}
