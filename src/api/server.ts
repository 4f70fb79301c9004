// `peapod system service`: the API front end. One node:http server on a unix socket (or a socket
// systemd hands over, or tcp:// when asked), answering Podman's libpod API and a subset of the Docker
// Engine API through the same use cases as the CLI (src/app). No resident daemon: it exits after
// `idleSeconds` without a request in flight (0: never).
import http from 'node:http';
import type { Socket } from 'node:net';
import net from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../../engine/engine.js';
import { PeapodError } from '../../engine/errors.js';
import { ApiError, sendError, sendJson } from './http.js';
import { route, type Ctx } from './routes.js';

export interface ServeOptions {
  /** unix:///path/to.sock or tcp://host:port; ignored when systemd passes a socket (LISTEN_FDS) */
  uri: string;
  /** seconds without a request in flight before the service exits; 0 never */
  idleSeconds: number;
  /** opens the engine (a fresh one per request: each request is one "command") */
  openEngine: () => Promise<Engine>;
  /** told once the socket listens */
  onListening?: (where: string) => void;
  /** told when the service warns (tcp without authentication) */
  onWarning?: (text: string) => void;
}

/** The socket systemd passed (sd_listen_fds: LISTEN_PID is us, LISTEN_FDS >= 1, the first is fd 3). */
export function activationFd(env = process.env, pid = process.pid): number | undefined {
  if (!env.LISTEN_FDS || !env.LISTEN_PID) return undefined;
  if (Number(env.LISTEN_PID) !== pid || !(Number(env.LISTEN_FDS) >= 1)) return undefined;
  return 3;
}

type Where = { fd: number } | { path: string } | { host: string; port: number };

/** What the URI names: a unix socket path or a tcp address. */
export function parseServiceUri(uri: string): { path: string } | { host: string; port: number } {
  if (uri.startsWith('unix://')) {
    const p = uri.slice('unix://'.length);
    if (!path.isAbsolute(p)) throw new PeapodError('invalid', `${uri}: the socket path must be absolute (unix:///path/to.sock)`);
    return { path: p };
  }
  const m = uri.match(/^tcp:\/\/(\[[^\]]+\]|[^:/]*):(\d+)\/?$/);
  if (m) return { host: m[1].replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(m[2]) };
  throw new PeapodError('invalid', `${uri}: not a service URI (unix:///path/to.sock or tcp://host:port)`);
}

/** Removes a socket left by a service that is gone; a live one, or anything that is not a socket, is an error. */
async function clearStaleSocket(p: string): Promise<void> {
  let st;
  try { st = lstatSync(p); } catch { return; }
  if (!st.isSocket()) throw new PeapodError('exists', `${p} exists and is not a socket: refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
  if (live) throw new PeapodError('exists', `${p}: another service is listening on it`);
  unlinkSync(p);
}

/** Serves until the service has been idle for idleSeconds (or forever); resolves when it stopped. */
export async function serve(o: ServeOptions): Promise<void> {
  let inFlight = 0;
  /** work that must end before the service may exit (a pull, a play, a load), even if its client left */
  const holding = new Set<Promise<unknown>>();
  let idleTimer: NodeJS.Timeout | undefined;
  const sockets = new Set<Socket>();
  let stopping = false;
  let finished!: () => void;
  const done = new Promise<void>((r) => { finished = r; });

  const server = http.createServer({ maxHeaderSize: 64 * 1024 });
  // a client gets 60 s to send its headers; a request may then run as long as it needs (logs -f, attach)
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close(() => { void Promise.allSettled([...holding]).then(() => finished()); });
    for (const s of sockets) if (!(s as Socket & { peapodBusy?: boolean }).peapodBusy) s.destroy();
  };
  const armIdle = () => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = undefined;
    if (o.idleSeconds > 0 && inFlight === 0 && holding.size === 0) idleTimer = setTimeout(stop, o.idleSeconds * 1000);
  };
  const begin = () => { inFlight++; if (idleTimer) clearTimeout(idleTimer); idleTimer = undefined; };
  const end = () => { inFlight--; armIdle(); };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, upgradeSocket?: Socket, head?: Buffer) => {
    begin();
    let ended = false;
    const finish = () => { if (!ended) { ended = true; end(); } };
    res.on('close', finish);
    upgradeSocket?.on('close', finish);
    res.setHeader('Server', `Libpod/4.3.1 (linux)`);
    res.setHeader('Api-Version', '1.41');
    res.setHeader('Libpod-Api-Version', '4.3.1');
    try {
      let engine: Promise<Engine> | undefined;
      const ctx: Ctx = {
        req, res, url: new URL(req.url ?? '/', 'http://d'), params: {},
        open: () => (engine ??= o.openEngine()),
        hijack: upgradeSocket ? { socket: upgradeSocket, head: head ?? Buffer.alloc(0) } : undefined,
        busy: (s: Socket) => { (s as Socket & { peapodBusy?: boolean }).peapodBusy = true; },
        hold: <T>(work: Promise<T>): Promise<T> => {
          holding.add(work);
          const release = () => { holding.delete(work); armIdle(); };
          work.then(release, release);
          return work;
        },
      };
      await route(ctx);
    } catch (err) {
      if (upgradeSocket && !res.headersSent) {
        const { errorBody } = await import('./http.js');
        const { status, body } = errorBody(err);
        const text = JSON.stringify(body);
        upgradeSocket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
      } else {
        // an answer before the body was read whole (413, a refused upload): the rest of the body
        // would be read as the next request, so this connection closes after the answer
        if (!req.complete && !res.headersSent) { res.shouldKeepAlive = false; res.setHeader('Connection', 'close'); }
        sendError(res, err);
      }
    } finally {
      if (!upgradeSocket && !res.writableEnded && !res.destroyed && !res.headersSent) sendJson(res, 500, { cause: 'internal', message: 'the handler ended without an answer', response: 500 });
      if (upgradeSocket && upgradeSocket.destroyed) finish();
    }
  };
  server.on('request', (req, res) => { void handle(req, res); });
  // Docker's and Podman's hijacked streams (attach, exec start) ask for `Connection: Upgrade`:
  // node hands those over as 'upgrade' with the raw socket.
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    const res = new http.ServerResponse(req);
    res.assignSocket(socket);
    void handle(req, res, socket, head);
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{"cause":"bad request","message":"malformed HTTP request","response":400}');
    else socket.destroy();
  });

  const fd = activationFd();
  let where: Where = fd !== undefined ? { fd } : parseServiceUri(o.uri);
  if ('path' in where) {
    mkdirSync(path.dirname(where.path), { recursive: true, mode: 0o700 });
    await clearStaleSocket(where.path);
  }
  if ('port' in where) o.onWarning?.(`listening on tcp://${where.host}:${where.port} without authentication or encryption: anyone who can reach it controls peapod (and the host, as root)`);
  // The socket is made 0600 by bind(2) itself (the umask is in force while it binds): there is no
  // moment at which another user could connect before a chmod.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if ('fd' in where) server.listen({ fd: where.fd }, resolve);
      else if ('path' in where) server.listen({ path: where.path }, resolve);
      else server.listen({ host: where.host, port: where.port }, resolve);
    });
  } finally {
    process.umask(oldMask);
  }
  if ('path' in where) chmodSync(where.path, 0o600);
  if ('fd' in where) {
    // never handed to what the service starts (conmon, runc)
    delete process.env.LISTEN_FDS; delete process.env.LISTEN_PID; delete process.env.LISTEN_FDNAMES;
  }
  server.on('error', (err) => { o.onWarning?.(`service: ${err.message}`); });
  o.onListening?.('fd' in where ? `fd ${where.fd} (socket activation)` : 'path' in where ? `unix://${where.path}` : `tcp://${where.host}:${where.port}`);
  const onSignal = () => stop();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  armIdle();
  await done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  // the socket file goes with the service (not one systemd owns)
  if ('path' in where) { try { unlinkSync(where.path); } catch { /* gone */ } }
  where = { fd: -1 };
}

export { ApiError };
