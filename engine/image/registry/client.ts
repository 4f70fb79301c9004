// A client of one registry endpoint (the OCI distribution API, /v2/): the ping that decides the
// scheme and the authentication, Basic and Bearer (token) flows from WWW-Authenticate, manifests,
// blobs (with redirects and byte ranges). node:http/https directly, so that TLS (CA certificates,
// client certificates, verification off) is set per registry.
//
// Every failure is a RegistryError with a one-line, lower-case message naming the cause; the pull
// prefixes it with "pulling REF: ". `transient` marks what a retry may fix (connection refused or
// lost, timeouts, 5xx, 429).

import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import { PeapodError, type ErrorCode } from '../../errors.js';
import { debug, warn } from '../../log.js';
import { VERSION } from '../../version.js';
import type { Credentials } from './auth.js';
import type { TlsMaterial } from './certs.js';

export type RegistryErrorReason = 'auth' | 'denied' | 'tls' | 'network' | 'not-found' | 'digest' | 'invalid' | 'server' | 'blocked';

export class RegistryError extends PeapodError {
  readonly reason: RegistryErrorReason;
  readonly transient: boolean;
  constructor(reason: RegistryErrorReason, message: string, opts: { transient?: boolean; hint?: string; cause?: unknown } = {}) {
    const code: ErrorCode = reason === 'not-found' ? 'not-found' : reason === 'digest' || reason === 'invalid' ? 'invalid' : 'prerequisite';
    super(code, message, { hint: opts.hint, cause: opts.cause });
    this.reason = reason;
    this.transient = opts.transient ?? false;
  }
}

/** One challenge of a WWW-Authenticate header. */
export interface Challenge {
  scheme: string;           // lower-case: "basic", "bearer"
  params: Record<string, string>;
}

/** Parse a WWW-Authenticate header (RFC 7235): several challenges, quoted or token parameters. */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  // A token either starts a challenge (scheme) or, followed by "=", is a parameter of the last one.
  const re = /[\s,]*([^\s,=]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*))?/y;
  for (;;) {
    const m = re.exec(header);
    if (!m || m[0].length === 0) break;
    const name = m[1]!;
    const value = m[2];
    if (value === undefined) out.push({ scheme: name.toLowerCase(), params: {} });
    else if (out.length > 0) {
      out[out.length - 1]!.params[name.toLowerCase()] = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
    }
  }
  return out;
}

export interface EndpointOptions {
  /** host[:port] */
  host: string;
  /** Allow plain HTTP and unverified TLS. */
  insecure: boolean;
  tls: TlsMaterial;
  credentials?: Credentials;
  /** Where the credentials came from, for messages. */
  credentialSource?: string;
  /** Idle timeout of a request, ms. */
  timeoutMs?: number;
  maxSockets?: number;
}

export interface Fetched {
  bytes: Buffer;
  contentType: string;
  /** Docker-Content-Digest header, if any. */
  digest?: string;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE', 'CERT_REJECTED', 'INVALID_CA', 'HOSTNAME_MISMATCH',
]);

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EAI_AGAIN: 'temporary failure resolving the host name',
  ENOTFOUND: 'no such host',
};

const MAX_ERROR_BODY = 64 * 1024;
const MAX_REDIRECTS = 5;

/** Turn a socket/TLS error into a RegistryError naming the host (and the certs.d dirs for TLS). */
export function networkError(err: unknown, host: string, material?: TlsMaterial, doing?: string): RegistryError {
  if (err instanceof RegistryError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  const msg = (e?.message ?? String(err)).replace(/\s+/g, ' ');
  if (TLS_CODES.has(code) || /certificate|CERT_/i.test(code) || (code.startsWith('ERR_TLS_') && code !== 'ERR_TLS_HANDSHAKE_TIMEOUT')) {
    const dirs = material?.looked ?? [];
    const where = material?.used.length
      ? `CA certificates used from ${material.used.join(', ')}`
      : dirs.length ? `no CA certificates found in ${dirs.join(' or ')}` : 'no CA certificates configured';
    return new RegistryError('tls', `certificate problem talking to ${host}: ${msg.toLowerCase()} (${where})`, {
      hint: `put the registry's CA certificate in ${dirs[0] ?? '/etc/containers/certs.d/HOST:PORT'}/ca.crt, or use --tls-verify=false`, cause: err,
    });
  }
  if (code === 'EPROTO' || code.startsWith('ERR_SSL_') || /wrong version number|ssl/i.test(msg)) {
    // OpenSSL's messages are long; its reason ("wrong version number") is what matters.
    const reason = (e as { reason?: string }).reason ?? msg;
    const plain = /wrong version number|http request/i.test(reason);
    return new RegistryError('tls', plain
      ? `${host} does not speak TLS: a plain-HTTP registry needs --tls-verify=false or insecure = true in registries.conf`
      : `TLS handshake with ${host} failed: ${reason.toLowerCase()}`, { cause: err });
  }
  const word = NETWORK_WORDS[code];
  if (code === 'ECONNREFUSED') return new RegistryError('network', `cannot connect to ${host}: connection refused`, { transient: true, cause: err });
  if (code === 'ENOTFOUND') return new RegistryError('network', `cannot connect to ${host}: no such host`, { cause: err });
  const what = word ?? (/aborted|hang up|premature|closed/i.test(msg) ? 'connection lost' : msg.toLowerCase());
  return new RegistryError('network', `${doing ? `${doing}: ` : ''}${what} (${host})`, { transient: true, cause: err });
}

/** The first error of a registry's JSON error body ({"errors": [{code, message, detail}]}). */
function registryErrorOf(body: Buffer): { code?: string; message?: string } {
  try {
    const v = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = Array.isArray(v.errors) ? v.errors[0] : undefined;
    if (first) return { code: typeof first.code === 'string' ? first.code : undefined, message: typeof first.message === 'string' ? first.message : undefined };
  } catch { /* not JSON */ }
  return {};
}

function readAll(res: Readable, max: number, what: string, host: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        res.destroy();
        reject(new RegistryError('invalid', `${what} from ${host} is larger than ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', (err) => reject(networkError(err, host, undefined, `reading ${what}`)));
    res.on('aborted', () => reject(networkError(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }), host, undefined, `reading ${what}`)));
  });
}

export class RegistryClient {
  readonly host: string;
  /** Where to connect: Docker Hub's API lives at registry-1.docker.io. */
  private readonly connect: string;
  private readonly opts: EndpointOptions;
  private scheme: 'https' | 'http' | undefined;
  private challenge: Challenge | undefined;
  private pinged = false;
  private readonly tokens = new Map<string, string>();
  /** The plain-http token server the credentials were kept from, if any (for messages). */
  private withheldFrom: string | undefined;
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;

  constructor(opts: EndpointOptions) {
    this.opts = opts;
    this.host = opts.host;
    this.connect = opts.host === 'docker.io' ? 'registry-1.docker.io' : opts.host;
    const m = opts.tls;
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: opts.maxSockets ?? 8,
      rejectUnauthorized: !opts.insecure,
      ca: m.ca.length ? [...tls.rootCertificates, ...m.ca.map((b) => b.toString('utf8'))] : undefined,
      cert: m.cert,
      key: m.key,
    });
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 8 });
  }

  /** Close idle connections (call when done, so the process can exit). */
  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }

  get hasCredentials(): boolean {
    return this.opts.credentials !== undefined;
  }

  private base(): string {
    return `${this.scheme ?? 'https'}://${this.connect}`;
  }

  /** One HTTP request, no redirects, no auth logic. Resolves with the response (body unread). */
  private raw(url: URL, method: string, headers: Record<string, string>, body?: string | Buffer | Readable, length?: number): Promise<http.IncomingMessage> {
    const isHttps = url.protocol === 'https:';
    const mod = isHttps ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, {
        method,
        headers: {
          'User-Agent': `peapod/${VERSION}`, ...headers,
          ...(body !== undefined ? { 'Content-Length': String(typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.byteLength(body) : length ?? 0) } : {}),
        },
        agent: isHttps ? this.httpsAgent : this.httpAgent,
      }, (res) => {
        // Idle timeout while the body streams, too.
        res.socket?.setTimeout(this.opts.timeoutMs ?? 60_000);
        resolve(res);
      });
      req.setTimeout(this.opts.timeoutMs ?? 60_000, () => {
        req.destroy(Object.assign(new Error(`no answer within ${Math.round((this.opts.timeoutMs ?? 60_000) / 1000)} s`), { code: 'ETIMEDOUT' }));
      });
      req.on('error', (err) => reject(networkError(err, url.host, isHttps ? this.opts.tls : undefined)));
      if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) {
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      } else req.end(body);
    });
  }

  /**
   * Whether `url` is the registry itself: same scheme, host and port as the endpoint found by the
   * ping. Credentials (Basic or a token) go nowhere else: a redirect to blob storage on another
   * host, or to plain http on the same host, is followed without them.
   */
  isOwn(url: URL): boolean {
    return url.origin === new URL(this.base()).origin;
  }

  /** The registry's base URL (after ping): relative Location headers resolve against it. */
  async baseUrl(): Promise<URL> {
    await this.ping();
    return new URL(`${this.base()}/v2/`);
  }

  /**
   * A request with authentication for `scope` (push: "repository:R:pull,push"), any method, no
   * redirects; a 401 is retried once with a fresh token. `body` is a factory so that the retry can
   * send it again. Resolves with the response whatever its status (the caller reads it).
   */
  async send(method: string, target: string | URL, scope: string, headers: Record<string, string>, body?: { open(): string | Buffer | Readable; length: number }): Promise<http.IncomingMessage> {
    await this.ping();
    const url = typeof target === 'string' ? new URL(`${this.base()}/v2/${target}`) : target;
    let auth = await this.authorization(scope);
    for (let attempt = 0; ; attempt++) {
      const sameHost = this.isOwn(url);
      const res = await this.raw(url, method, { ...headers, ...(auth && sameHost ? { Authorization: auth } : {}) }, body?.open(), body?.length);
      if (res.statusCode === 401 && sameHost && attempt === 0) {
        res.resume();
        const bearer = parseWwwAuthenticate(String(res.headers['www-authenticate'] ?? '')).find((c) => c.scheme === 'bearer');
        if (bearer) {
          this.challenge = bearer;
          auth = await this.authorization(bearer.params.scope || scope, bearer, true);
          continue;
        }
        throw this.authFailed(401);
      }
      if (res.statusCode === 401) {
        res.resume();
        throw this.authFailed(401);
      }
      return res;
    }
  }

  /** Read an unexpected answer of `send` into a RegistryError. */
  async failure(res: http.IncomingMessage, what: string): Promise<RegistryError> {
    const body = await readAll(res, MAX_ERROR_BODY, 'an error answer', this.host).catch(() => Buffer.alloc(0));
    const status = res.statusCode ?? 0;
    if (status === 403) return new RegistryError('denied', `access denied (403) to ${what} on ${this.host}${describeBody(body)}`);
    return new RegistryError('server', `registry ${this.host} answered ${status} ${res.statusMessage ?? ''} to ${what}`.replace(/\s+to/, ' to') + describeBody(body), { transient: status >= 500 || status === 429 });
  }

  /** Find the scheme (https, or http for insecure registries) and the authentication challenge. */
  async ping(): Promise<void> {
    if (this.pinged) return;
    const schemes: Array<'https' | 'http'> = this.opts.insecure ? ['https', 'http'] : ['https'];
    let lastErr: unknown;
    for (const scheme of schemes) {
      try {
        const res = await this.raw(new URL(`${scheme}://${this.connect}/v2/`), 'GET', {});
        const body = await readAll(res, MAX_ERROR_BODY, 'the /v2/ answer', this.host).catch(() => Buffer.alloc(0));
        this.scheme = scheme;
        if (res.statusCode === 401) {
          const challenges = parseWwwAuthenticate(String(res.headers['www-authenticate'] ?? ''));
          this.challenge = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
          if (!this.challenge) throw new RegistryError('auth', `${this.host} asks for authentication with an unsupported scheme (${String(res.headers['www-authenticate'] ?? 'no WWW-Authenticate header')})`);
        } else if (res.statusCode === 404) {
          // Not a v2 registry at all (or a proxy in front): requests will tell.
        } else if ((res.statusCode ?? 500) >= 500) {
          throw new RegistryError('server', `registry ${this.host} answered ${res.statusCode} ${res.statusMessage ?? ''}`.trim() + describeBody(body), { transient: true });
        }
        debug(`registry ${this.host}: ${scheme}, ${this.challenge ? `${this.challenge.scheme} auth` : 'no auth'}`);
        this.pinged = true;
        return;
      } catch (err) {
        lastErr = err;
        if (err instanceof RegistryError && err.reason !== 'tls' && err.reason !== 'network') throw err;
        // Connection refused: plain HTTP on the same port would be refused too.
        if (err instanceof RegistryError && /connection refused|no such host/.test(err.message)) throw err;
      }
    }
    throw lastErr;
  }

  /** The Authorization header for `scope` (fetching a token for Bearer challenges), if any. */
  private async authorization(scope: string, challenge = this.challenge, fresh = false): Promise<string | undefined> {
    if (!challenge) return undefined;
    const creds = this.opts.credentials;
    if (challenge.scheme === 'basic') {
      if (!creds || !('username' in creds)) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    const key = `${challenge.params.realm} ${scope}`;
    if (!fresh) {
      const cached = this.tokens.get(key);
      if (cached) return `Bearer ${cached}`;
    }
    const token = await this.fetchToken(challenge, scope);
    this.tokens.set(key, token);
    return `Bearer ${token}`;
  }

  private authFailed(status: number, detail?: string): RegistryError {
    const creds = this.opts.credentials;
    if (creds && this.withheldFrom) {
      return new RegistryError('auth', `authentication required (${status}): the credentials were not sent, because ${this.host}'s token server ${this.withheldFrom} is plain http`, {
        hint: `the registry should announce an https token realm; peapod never sends credentials to an http one for an https registry`,
      });
    }
    if (!creds) {
      return new RegistryError('auth', `authentication required (${status}): use peapod login or an imagePullSecret`, {
        hint: `peapod login ${this.host}`,
      });
    }
    const who = 'username' in creds ? `user "${creds.username}"` : 'the identity token';
    return new RegistryError('auth', `authentication failed (${status}): ${this.host} rejected the credentials of ${who}${this.opts.credentialSource ? ` (from ${this.opts.credentialSource})` : ''}${detail ? `: ${detail}` : ''}`);
  }

  /** Bearer token flow: GET the realm with service and scope (Basic auth when we have a password), or POST a refresh token. */
  private async fetchToken(ch: Challenge, scope: string): Promise<string> {
    const realm = ch.params.realm;
    if (!realm) throw new RegistryError('auth', `${this.host} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError('auth', `${this.host} sent a Bearer challenge with an invalid realm "${realm}"`);
    }
    let creds = this.opts.credentials;
    if (creds && url.protocol === 'http:' && this.scheme !== 'http') {
      // A token realm over plain http would carry the password (or refresh token) in clear text
      // to whoever is on the path; only an insecure (plain http) registry gets them that way.
      if (this.withheldFrom !== url.origin) {
        warn(`${this.host}: the token server ${url.origin} is plain http; not sending the credentials${this.opts.credentialSource ? ` from ${this.opts.credentialSource}` : ''} there, asking for an anonymous token`);
      }
      this.withheldFrom = url.origin;
      creds = undefined;
    }
    let res: http.IncomingMessage;
    if (creds && 'identityToken' in creds) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'peapod', service: ch.params.service ?? '', scope });
      res = await this.raw(url, 'POST', { 'Content-Type': 'application/x-www-form-urlencoded' }, form.toString());
    } else {
      if (ch.params.service) url.searchParams.set('service', ch.params.service);
      if (scope) url.searchParams.set('scope', scope);
      const headers: Record<string, string> = {};
      if (creds) {
        url.searchParams.set('account', creds.username);
        headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      }
      res = await this.raw(url, 'GET', headers);
    }
    const body = await readAll(res, 1024 * 1024, 'the token answer', url.host);
    if (res.statusCode === 401 || res.statusCode === 403) throw this.authFailed(res.statusCode, `token server ${url.host} said ${res.statusCode}`);
    if (res.statusCode !== 200) throw new RegistryError('auth', `token server ${url.host} answered ${res.statusCode}${describeBody(body)}`, { transient: (res.statusCode ?? 0) >= 500 });
    let v: { token?: unknown; access_token?: unknown };
    try {
      v = JSON.parse(body.toString('utf8')) as typeof v;
    } catch {
      throw new RegistryError('auth', `token server ${url.host} sent no JSON`);
    }
    const token = typeof v.token === 'string' && v.token ? v.token : typeof v.access_token === 'string' ? v.access_token : '';
    if (!token) throw new RegistryError('auth', `token server ${url.host} sent no token`);
    return token;
  }

  /**
   * A GET (or HEAD) on /v2/`path` with authentication, following redirects (credentials are only
   * sent to the registry itself). Resolves with a 2xx response; other statuses become errors
   * through `onStatus` or the generic mapping.
   */
  async get(path: string, scope: string, headers: Record<string, string>, what: string, method = 'GET'): Promise<http.IncomingMessage> {
    await this.ping();
    let auth = await this.authorization(scope);
    let retriedAuth = false;
    let url = new URL(`${this.base()}/v2/${path}`);
    for (let hop = 0; ; hop++) {
      const sameHost = this.isOwn(url);
      const res = await this.raw(url, method, { ...headers, ...(auth && sameHost ? { Authorization: auth } : {}) });
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return res;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        res.resume();
        if (hop >= MAX_REDIRECTS) throw new RegistryError('server', `too many redirects fetching ${what} from ${this.host}`);
        url = new URL(res.headers.location, url);
        continue;
      }
      const body = method === 'HEAD' ? Buffer.alloc(0) : await readAll(res, MAX_ERROR_BODY, 'an error answer', url.host).catch(() => Buffer.alloc(0));
      if (status === 401 && sameHost) {
        // A Bearer challenge for another scope (or an expired token): one more try with a new token.
        const challenges = parseWwwAuthenticate(String(res.headers['www-authenticate'] ?? ''));
        const bearer = challenges.find((c) => c.scheme === 'bearer');
        if (bearer && !retriedAuth) {
          retriedAuth = true;
          this.challenge = bearer;
          auth = await this.authorization(bearer.params.scope || scope, bearer, true);
          continue;
        }
        throw this.authFailed(401);
      }
      const err = registryErrorOf(body);
      if (status === 403) {
        throw new RegistryError('denied', `access denied (403) to ${what} on ${this.host}${err.message ? `: ${err.message}` : ''}`);
      }
      if (status === 404) {
        throw new RegistryError('not-found', `${err.code === 'NAME_UNKNOWN' ? 'manifest unknown' : err.code === 'BLOB_UNKNOWN' ? 'blob unknown' : err.code === 'MANIFEST_UNKNOWN' ? 'manifest unknown' : 'not found'}: ${what}`);
      }
      if (status === 429) throw new RegistryError('server', `too many requests (429) to ${this.host}`, { transient: true });
      throw new RegistryError('server', `registry ${url.host} answered ${status} ${res.statusMessage ?? ''} for ${what}`.replace(/\s+for/, ' for') + describeBody(body), { transient: status >= 500 });
    }
  }

  /** GET a manifest by tag or digest. `reference` is the tag or the digest. */
  async manifest(repository: string, reference: string, accept: string[], shown: string, maxBytes: number): Promise<Fetched> {
    const res = await this.get(`${repository}/manifests/${reference}`, `repository:${repository}:pull`, { Accept: accept.join(', ') }, shown);
    const bytes = await readAll(res, maxBytes, `manifest ${shown}`, this.host);
    return {
      bytes,
      contentType: String(res.headers['content-type'] ?? '').split(';')[0]!.trim(),
      digest: typeof res.headers['docker-content-digest'] === 'string' ? res.headers['docker-content-digest'] : undefined,
    };
  }

  /** HEAD a manifest: its digest (Docker-Content-Digest), if the registry tells. */
  async manifestDigest(repository: string, reference: string, accept: string[], shown: string): Promise<string | undefined> {
    const res = await this.get(`${repository}/manifests/${reference}`, `repository:${repository}:pull`, { Accept: accept.join(', ') }, shown, 'HEAD');
    res.resume();
    const d = res.headers['docker-content-digest'];
    return typeof d === 'string' ? d : undefined;
  }

  /** A small blob (a config) into memory. */
  async blobBytes(repository: string, digest: string, maxBytes: number): Promise<Buffer> {
    const res = await this.get(`${repository}/blobs/${digest}`, `repository:${repository}:pull`, {}, `blob ${digest} in ${this.host}/${repository}`);
    return readAll(res, maxBytes, `blob ${digest}`, this.host);
  }

  /**
   * Stream a blob from byte `offset` on. `resumed` says whether the registry honoured the range
   * (206); when it did not, the stream starts at 0.
   */
  async blobStream(repository: string, digest: string, offset: number): Promise<{ stream: http.IncomingMessage; resumed: boolean; length?: number }> {
    const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    const res = await this.get(`${repository}/blobs/${digest}`, `repository:${repository}:pull`, headers, `blob ${digest} in ${this.host}/${repository}`);
    const len = Number(res.headers['content-length']);
    return { stream: res, resumed: offset > 0 && res.statusCode === 206, length: Number.isFinite(len) ? len : undefined };
  }

  /**
   * Check credentials (login): the ping, then for Basic an authenticated GET /v2/, for Bearer a
   * token. Throws RegistryError('auth') when they are rejected.
   */
  async checkLogin(): Promise<void> {
    await this.ping();
    if (!this.challenge) return; // the registry needs no authentication: nothing to check
    if (this.challenge.scheme === 'bearer') {
      const realm = this.challenge.params.realm ?? '';
      if (/^http:/i.test(realm) && this.scheme !== 'http') {
        throw new RegistryError('blocked', `${this.host}'s token server ${realm} is plain http: peapod does not send credentials there, so they cannot be checked`);
      }
      await this.fetchToken(this.challenge, '');
      return;
    }
    const res = await this.raw(new URL(`${this.base()}/v2/`), 'GET', { Authorization: (await this.authorization(''))! });
    res.resume();
    if (res.statusCode === 401) throw this.authFailed(401);
    if ((res.statusCode ?? 500) >= 400) throw new RegistryError('server', `registry ${this.host} answered ${res.statusCode} to the login check`);
  }
}

function describeBody(body: Buffer): string {
  const e = registryErrorOf(body);
  if (e.message) return `: ${e.message.toLowerCase()}`;
  return '';
}
