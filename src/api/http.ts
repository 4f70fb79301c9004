// HTTP plumbing of the API front end: errors as Podman and Docker send them ({cause, message,
// response} with their status codes), JSON answers, bounded request bodies.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PeapodError, type ErrorCode } from '../../engine/errors.js';

/** Largest request body read (a manifest, a create request): a bigger one is refused with 413 before it is read. */
export const MAX_BODY = 8 * 1024 * 1024;

/** An error with the HTTP status it answers with. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly because = '') {
    super(message);
  }
}

const STATUS: Record<ErrorCode, number> = {
  'not-found': 404, exists: 409, invalid: 400, state: 409, 'unsafe-layer': 400, runtime: 500,
  'not-executable': 500, 'command-not-found': 500, lock: 500, prerequisite: 500, internal: 500,
};

/** Podman's root causes (libpod/define/errors.go), which clients match on. */
function causeOf(err: PeapodError): string {
  if (err.code === 'not-found') {
    const m = err.message.match(/\bno (container|pod|image|volume|network|secret)\b/) ?? err.message.match(/\b(container|pod|image|volume|network|secret)\b/);
    return `no such ${m?.[1] ?? 'object'}`;
  }
  if (err.code === 'exists') return 'name already in use';
  if (err.code === 'state') return 'container state improper';
  if (err.code === 'command-not-found' || err.code === 'not-executable') return err.message;
  return err.message.split(': ').pop() ?? err.message;
}

/** What a failed request answers: status and Podman's/Docker's error body. */
export function errorBody(err: unknown): { status: number; body: { cause: string; message: string; response: number } } {
  let status = 500;
  let message: string;
  let cause: string;
  if (err instanceof ApiError) {
    status = err.status;
    message = err.message;
    cause = err.because || err.message;
  } else if (err instanceof PeapodError) {
    status = STATUS[err.code] ?? 500;
    message = err.message;
    cause = causeOf(err);
  } else {
    message = (err as Error)?.message ?? String(err);
    cause = message;
  }
  return { status, body: { cause, message, response: status } };
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, type = 'text/plain; charset=utf-8'): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const { status, body } = errorBody(err);
  if (res.headersSent) {
    // a stream already started: the error can only end it
    res.destroy();
    return;
  }
  sendJson(res, status, body);
}

/**
 * The request's body, at most `limit` bytes: a larger declared length is refused before reading,
 * a chunked body that grows past it is cut off. Rejects when the client goes away before the end.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(new ApiError(413, `request body of ${declared} bytes is larger than the limit of ${limit} bytes`, 'request body too large'));
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (e: Error) => { if (!done) { done = true; reject(e); } };
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > limit) {
        fail(new ApiError(413, `request body is larger than the limit of ${limit} bytes`, 'request body too large'));
        req.pause();
        return;
      }
      if (!done) parts.push(d);
    });
    req.on('end', () => { if (!done) { done = true; resolve(Buffer.concat(parts)); } });
    req.on('aborted', () => fail(new ApiError(400, 'the client went away before the request body ended', 'client disconnected')));
    req.on('close', () => { if (!req.complete) fail(new ApiError(400, 'the client went away before the request body ended', 'client disconnected')); });
    req.on('error', fail);
  });
}

export async function readJson<T = any>(req: IncomingMessage): Promise<T> {
  const body = await readBody(req);
  if (!body.length) return {} as T;
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch (err) {
    throw new ApiError(400, `decoding the request body: ${(err as Error).message}`, 'invalid JSON');
  }
}

/** A query parameter as a boolean (Go's strconv.ParseBool spellings); `dflt` when absent. */
export function qBool(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  return /^(1|t|true|TRUE|True)$/.test(v);
}

export function qInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ApiError(400, `query parameter ${name}: "${v}" is not an integer`, 'invalid argument');
  return n;
}
