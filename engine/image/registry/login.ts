// `login` and `logout`: check credentials against the registry, then store them in (or remove
// them from) the containers auth.json (see auth.ts for the file locations).

import { PeapodError } from '../../errors.js';
import { loginKey, removeCredentials, storeCredentials } from './auth.js';
import { tlsMaterialFor } from './certs.js';
import { RegistryClient, RegistryError } from './client.js';
import { hostInsecure, loadRegistriesConf } from './registries-conf.js';

export interface LoginOptions {
  username: string;
  password: string;
  /** Where to store them (--authfile); $REGISTRY_AUTH_FILE or the default auth.json otherwise. */
  authFile?: string;
  /** false: plain HTTP and unverified TLS allowed (--tls-verify=false). */
  tlsVerify?: boolean;
  certDir?: string;
}

/**
 * Log in to `registry` ("host[:port]" or "host/namespace"): the credentials are checked with the
 * registry (Basic: an authenticated /v2/, Bearer: a token) and stored. Returns the auth file.
 */
export async function login(registry: string, opts: LoginOptions): Promise<{ authFile: string; registry: string }> {
  const key = loginKey(registry);
  if (!opts.username) throw new PeapodError('invalid', 'a username is needed (-u)');
  if (!opts.password) throw new PeapodError('invalid', 'a password is needed (-p or --password-stdin)');
  const host = key.split('/')[0]!;
  const insecure = opts.tlsVerify === false || hostInsecure(loadRegistriesConf(), host);
  const client = new RegistryClient({
    host,
    insecure,
    tls: tlsMaterialFor(host, opts.certDir),
    credentials: { username: opts.username, password: opts.password },
    credentialSource: 'the command line',
  });
  try {
    await client.checkLogin();
  } catch (err) {
    if (err instanceof RegistryError && err.reason === 'auth') {
      throw new PeapodError('invalid', `logging into "${key}": invalid username/password`, { cause: err });
    }
    throw new PeapodError(err instanceof PeapodError ? err.code : 'internal', `logging into "${key}": ${(err as Error).message}`, { cause: err });
  } finally {
    client.close();
  }
  const authFile = await storeCredentials(key, { username: opts.username, password: opts.password }, opts.authFile);
  return { authFile, registry: key };
}

/** Remove the stored credentials of `registry`, or of every registry with `all`. */
export async function logout(registry: string | undefined, opts: { all?: boolean; authFile?: string } = {}): Promise<{ authFile: string; registry?: string }> {
  const authFile = await removeCredentials(registry, opts);
  return { authFile, registry: registry ? loginKey(registry) : undefined };
}
