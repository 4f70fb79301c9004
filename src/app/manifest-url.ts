// `play kube URL` (and apply/diff of a URL): a manifest fetched over http(s), bounded in size and
// time so that a server that streams forever, sends gigabytes or stalls cannot hold or exhaust the
// host (issue 14 scope 6). The limits: 10 MiB and 30 s for the whole fetch, redirects included;
// PEAPOD_URL_TIMEOUT (seconds) changes the time, for slow links and for tests.
import { PeapodError } from '../../engine/errors.js';

export const MANIFEST_URL_MAX_BYTES = 10 * 1024 * 1024;
const DEFAULT_TIMEOUT_S = 30;

function timeoutSeconds(): number {
  const v = process.env.PEAPOD_URL_TIMEOUT;
  if (v === undefined || v === '') return DEFAULT_TIMEOUT_S;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new PeapodError('invalid', `PEAPOD_URL_TIMEOUT=${v}: not a positive number of seconds`);
  return n;
}

/** The text of an http(s) manifest; an error naming the URL and the limit when it is crossed. */
export async function fetchManifest(url: string, maxBytes = MANIFEST_URL_MAX_BYTES): Promise<string> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PeapodError('invalid', `${url}: not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new PeapodError('invalid', `${url}: only http and https URLs can be played`);
  const seconds = timeoutSeconds();
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), seconds * 1000);
  const tooSlow = () => new PeapodError('invalid', `fetching ${url}: no complete answer within ${seconds} s (PEAPOD_URL_TIMEOUT sets the limit)`);
  const tooBig = () => new PeapodError('invalid', `fetching ${url}: the manifest is larger than ${maxBytes / 1024 / 1024} MiB, the limit for a played URL`);
  try {
    let r: Response;
    try {
      r = await fetch(parsed, { signal: ctl.signal, redirect: 'follow' });
    } catch (err) {
      if (ctl.signal.aborted) throw tooSlow();
      throw new PeapodError('invalid', `fetching ${url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    if (!r.ok) {
      await r.body?.cancel().catch(() => undefined);
      throw new PeapodError('invalid', `fetching ${url}: HTTP ${r.status}`);
    }
    if (Number(r.headers.get('content-length') ?? 0) > maxBytes) {
      await r.body?.cancel().catch(() => undefined);
      throw tooBig();
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = r.body?.getReader();
    try {
      for (;;) {
        const { done, value } = await reader!.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader!.cancel().catch(() => undefined);
          throw tooBig();
        }
        chunks.push(value);
      }
    } catch (err) {
      if (err instanceof PeapodError) throw err;
      if (ctl.signal.aborted) throw tooSlow();
      throw new PeapodError('invalid', `fetching ${url}: ${(err as Error).message}`);
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    clearTimeout(timer);
  }
}
