// Per-registry TLS material, where Podman looks for it (containers-certs.d(5)):
//   --cert-dir DIR (certDir)           that directory only
//   $PEAPOD_CERTS_D/HOST:PORT          when set, instead of the defaults below (tests use it)
//   ~/.config/containers/certs.d/HOST:PORT   (non-root users)
//   /etc/containers/certs.d/HOST:PORT, /etc/docker/certs.d/HOST:PORT
// In a directory: *.crt are CA certificates (added to the system's), NAME.cert + NAME.key a
// client certificate and its key.

import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PeapodError } from '../../errors.js';

export interface TlsMaterial {
  /** Extra CA certificates (PEM). */
  ca: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  /** Directories that were looked at, for error messages. */
  looked: string[];
  /** Directories that existed and were read. */
  used: string[];
}

/** The directories to look in for `host` ("host[:port]"), in order. */
export function certDirsFor(host: string, certDir?: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (certDir) return [certDir];
  if (env.PEAPOD_CERTS_D) return [path.join(env.PEAPOD_CERTS_D, host)];
  const dirs: string[] = [];
  if (process.getuid?.() !== 0) {
    dirs.push(path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'containers', 'certs.d', host));
  }
  dirs.push(path.join('/etc/containers/certs.d', host), path.join('/etc/docker/certs.d', host));
  return dirs;
}

export function tlsMaterialFor(host: string, certDir?: string): TlsMaterial {
  const out: TlsMaterial = { ca: [], looked: certDirsFor(host, certDir), used: [] };
  for (const dir of out.looked) {
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      continue;
    }
    out.used.push(dir);
    const read = (f: string): Buffer => {
      try {
        return readFileSync(path.join(dir, f));
      } catch (err) {
        throw new PeapodError('invalid', `reading ${path.join(dir, f)}: ${(err as Error).message}`);
      }
    };
    for (const f of entries) {
      if (f.endsWith('.crt')) out.ca.push(read(f));
      else if (f.endsWith('.cert')) {
        const keyName = `${f.slice(0, -'.cert'.length)}.key`;
        if (!entries.includes(keyName)) throw new PeapodError('invalid', `client certificate ${path.join(dir, f)} has no key ${keyName} next to it`);
        if (!out.cert) {
          out.cert = read(f);
          out.key = read(keyName);
        }
      } else if (f.endsWith('.key')) {
        const certName = `${f.slice(0, -'.key'.length)}.cert`;
        if (!entries.includes(certName)) throw new PeapodError('invalid', `client key ${path.join(dir, f)} has no certificate ${certName} next to it`);
      }
    }
    // containers/image stops at the first directory that exists.
    break;
  }
  return out;
}
