// Pure parts of the registry client: registries.conf parsing and merging, pull sources (mirrors,
// prefixes, blocked), short-name resolution, auth files and dockerconfigjson Secrets,
// WWW-Authenticate parsing, platform choice.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  authKeysFor, credentialsFromDockerConfigJson, credentialsIn, decodeAuthEntry, loginKey, normalizeAuthKey, removeCredentials, storeCredentials,
} from '../../../engine/image/registry/auth.js';
import { certDirsFor, tlsMaterialFor } from '../../../engine/image/registry/certs.js';
import { networkError, parseWwwAuthenticate } from '../../../engine/image/registry/client.js';
import { findRegistry, loadRegistriesConf, parseRegistriesConf, pullSources, registriesConfFiles } from '../../../engine/image/registry/registries-conf.js';
import { resolvePullCandidates } from '../../../engine/image/registry/shortnames.js';
import { choosePlatform } from '../../../engine/image/formats.js';

let dir: string;
beforeEach(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-registry-unit-')); });
afterEach(async () => { await fs.rm(dir, { recursive: true, force: true }); });

async function confOf(...texts: string[]) {
  const files = [];
  for (const [i, t] of texts.entries()) {
    const f = path.join(dir, `${i}.conf`);
    await fs.writeFile(f, t);
    files.push(f);
  }
  return loadRegistriesConf(files);
}

describe('registries.conf', () => {
  it('parses version 2 and merges files: search list replaced, aliases and registries merged by prefix', async () => {
    const conf = await confOf(
      `unqualified-search-registries = ["registry.fedoraproject.org", "docker.io"]
[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"alpine" = "docker.io/library/alpine"
[[registry]]
prefix = "example.com/foo"
location = "internal.example.com/bar"
insecure = true
[[registry.mirror]]
location = "mirror.example.com:5000/foo"
[[registry]]
location = "old.example.com"
blocked = true`,
      `unqualified-search-registries = ["quay.io"]
short-name-mode = "permissive"
[aliases]
"alpine" = "quay.io/library/alpine"
[[registry]]
location = "old.example.com"`,
    );
    expect(conf.unqualifiedSearchRegistries).toEqual(['quay.io']);
    expect(conf.searchRegistriesFile).toBe(path.join(dir, '1.conf'));
    expect(conf.shortNameMode).toBe('permissive');
    expect(conf.aliases.get('fedora')?.value).toBe('registry.fedoraproject.org/fedora');
    expect(conf.aliases.get('alpine')?.value).toBe('quay.io/library/alpine');
    expect(conf.registries.map((r) => [r.prefix, r.location, r.blocked])).toEqual([
      ['example.com/foo', 'internal.example.com/bar', false],
      ['old.example.com', 'old.example.com', false],
    ]);
  });

  it('reads version 1 files', () => {
    const part = parseRegistriesConf(`[registries.search]\nregistries = ["quay.io"]\n[registries.insecure]\nregistries = ["127.0.0.1:5000"]\n[registries.block]\nregistries = ["bad.example"]\n`, 'v1.conf');
    expect(part.search).toEqual(['quay.io']);
    expect(part.registries.map((r) => [r.prefix, r.insecure, r.blocked])).toEqual([['127.0.0.1:5000', true, false], ['bad.example', false, true]]);
  });

  it.each([
    ['unqualified-search-registries = "docker.io"', /"unqualified-search-registries" must be a list of strings/],
    ['short-name-mode = "lenient"', /short-name-mode "lenient" is not one of enforcing, permissive, disabled/],
    ['[[registry]]\nlocation = "https://quay.io"', /must not contain a scheme/],
    ['[[registry]]\nprefix = "*.example.com"\nlocation = "x.example.com"', /a wildcard prefix "\*\.example\.com" cannot have a location/],
    ['[[registry]]\ninsecure = true', /needs a location or a prefix/],
    ['[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "some"', /pull-from-mirror "some"/],
    ['[[registry]\nlocation = "a.io"', /not valid TOML/],
  ])('rejects %j', (text, message) => {
    expect(() => parseRegistriesConf(text, 'bad.conf')).toThrow(message);
    expect(() => parseRegistriesConf(text, 'bad.conf')).toThrow(/^registries configuration bad\.conf: /);
  });

  it('PEAPOD_REGISTRIES_CONF is the only file read; a missing one is an error', () => {
    expect(registriesConfFiles({ PEAPOD_REGISTRIES_CONF: '/x/r.conf' })).toEqual(['/x/r.conf']);
    const files = registriesConfFiles({});
    expect(files[0]).toBe('/etc/containers/registries.conf');
    expect(files[files.length - 1]).toBe(process.getuid?.() === 0 ? '/etc/peapod/registries.conf' : expect.stringMatching(/peapod\/registries\.conf$/));
    const old = process.env.PEAPOD_REGISTRIES_CONF;
    process.env.PEAPOD_REGISTRIES_CONF = path.join(dir, 'missing.conf');
    try {
      expect(() => loadRegistriesConf()).toThrow(`registries configuration ${path.join(dir, 'missing.conf')}: no such file`);
    } finally {
      if (old === undefined) delete process.env.PEAPOD_REGISTRIES_CONF;
      else process.env.PEAPOD_REGISTRIES_CONF = old;
    }
  });

  it('the longest prefix wins; exact beats wildcard; a prefix ends at a path boundary', async () => {
    const conf = await confOf(`
[[registry]]
location = "example.com"
[[registry]]
prefix = "example.com/foo"
location = "a.example.com/foo"
[[registry]]
prefix = "*.example.com"
[[registry]]
location = "x.example.com"`);
    expect(findRegistry(conf, 'example.com/foo/bar')?.prefix).toBe('example.com/foo');
    expect(findRegistry(conf, 'example.com/foobar')?.prefix).toBe('example.com');
    expect(findRegistry(conf, 'y.example.com/app')?.prefix).toBe('*.example.com');
    expect(findRegistry(conf, 'x.example.com/app')?.prefix).toBe('x.example.com');
    expect(findRegistry(conf, 'quay.io/app')).toBeUndefined();
  });

  it.each([
    ['a tag', ':1.25', ['m1.local/library/nginx:1.25', 'm3.local/library/nginx:1.25', 'primary.local/library/nginx:1.25']],
    ['a digest', `@sha256:${'a'.repeat(64)}`, ['m1.local', 'm2.local', 'primary.local'].map((h) => `${h}/library/nginx@sha256:${'a'.repeat(64)}`)],
  ])('pull sources for %s: the mirrors that apply, then the primary location', async (_what, suffix, expected) => {
    const conf = await confOf(`
[[registry]]
prefix = "docker.io"
location = "primary.local"
[[registry.mirror]]
location = "m1.local"
insecure = true
[[registry.mirror]]
location = "m2.local"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "m3.local"
pull-from-mirror = "tag-only"`);
    const sources = pullSources(conf, 'docker.io/library/nginx', suffix);
    expect(sources.map((s) => s.reference)).toEqual(expected);
    expect(sources[0]).toMatchObject({ host: 'm1.local', repository: 'library/nginx', insecure: true, mirror: true });
    expect(sources[sources.length - 1]).toMatchObject({ host: 'primary.local', insecure: false, mirror: false });
  });

  it('remaps a namespace prefix, keeps unmatched references, refuses blocked registries', async () => {
    const conf = await confOf(`
[[registry]]
prefix = "example.com/foo"
location = "internal.example.com:5000/bar"
insecure = true
[[registry]]
location = "blocked.example"
blocked = true`);
    expect(pullSources(conf, 'example.com/foo/app', ':1')).toEqual([{ host: 'internal.example.com:5000', repository: 'bar/app', reference: 'internal.example.com:5000/bar/app:1', insecure: true, mirror: false }]);
    expect(pullSources(conf, 'quay.io/app', ':1', true)).toEqual([{ host: 'quay.io', repository: 'app', reference: 'quay.io/app:1', insecure: true, mirror: false }]);
    expect(() => pullSources(conf, 'blocked.example/app', ':1')).toThrow(`registry blocked.example is blocked in ${path.join(dir, '0.conf')}`);
  });
});

describe('short names', () => {
  it.each([
    ['docker.io/nginx', ['docker.io/library/nginx:latest'], 'qualified'],
    ['quay.io/org/app@sha256:' + 'b'.repeat(64), ['quay.io/org/app@sha256:' + 'b'.repeat(64)], 'qualified'],
    ['localhost:5000/app:1', ['localhost:5000/app:1'], 'qualified'],
    ['fedora:39', ['registry.fedoraproject.org/fedora:39'], 'alias'],
    ['busybox', ['docker.io/library/busybox:latest'], 'search'],
    ['org/app:2', ['docker.io/org/app:2'], 'search'],
  ])('%s -> %j (%s)', async (ref, candidates, how) => {
    const conf = await confOf(`unqualified-search-registries = ["docker.io"]\n[aliases]\n"fedora" = "registry.fedoraproject.org/fedora"\n`);
    expect(await resolvePullCandidates(ref, conf)).toEqual({ candidates, how });
  });

  it('several search registries: a chooser is asked, enforcing without one fails listing them, disabled tries all', async () => {
    const text = (mode: string) => `unqualified-search-registries = ["quay.io", "docker.io"]\nshort-name-mode = "${mode}"\n`;
    const enforcing = await confOf(text('enforcing'));
    await expect(resolvePullCandidates('app:1', enforcing)).rejects.toThrow(/^short name "app:1" is ambiguous: it could be quay\.io\/app:1, docker\.io\/library\/app:1 \(unqualified-search-registries in .*0\.conf\) and there is no terminal to ask: use a fully qualified name$/);
    expect(await resolvePullCandidates('app:1', enforcing, async (_s, c) => c[1]!)).toEqual({ candidates: ['docker.io/library/app:1'], how: 'prompt' });
    expect((await resolvePullCandidates('app:1', await confOf(text('disabled')))).candidates).toEqual(['quay.io/app:1', 'docker.io/library/app:1']);
    await expect(resolvePullCandidates('app', await confOf(''))).rejects.toThrow(/did not resolve to an alias and no unqualified-search-registries are defined/);
  });
});

describe('credentials', () => {
  it.each([
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['http://127.0.0.1:5000/', '127.0.0.1:5000'],
    ['Quay.IO/org', 'quay.io/org'],
  ])('normalises the auth key %s to %s', (key, want) => {
    expect(normalizeAuthKey(key)).toBe(want);
  });

  it('the most specific key wins', () => {
    expect(authKeysFor('quay.io/org/team/app')).toEqual(['quay.io/org/team/app', 'quay.io/org/team', 'quay.io/org', 'quay.io']);
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const doc = { auths: { 'quay.io': { auth: b64('all:1') }, 'quay.io/org': { auth: b64('org:2') }, 'https://index.docker.io/v1/': { auth: b64('hub:3') } } };
    expect(credentialsIn(doc, 'quay.io/org/app', 'f')?.credentials).toEqual({ username: 'org', password: '2' });
    expect(credentialsIn(doc, 'quay.io/other/app', 'f')?.credentials).toEqual({ username: 'all', password: '1' });
    expect(credentialsIn(doc, 'docker.io/library/nginx', 'f')?.credentials).toEqual({ username: 'hub', password: '3' });
    expect(credentialsIn(doc, 'ghcr.io/x', 'f')).toBeUndefined();
    expect(decodeAuthEntry({ identitytoken: 'tok' }, 'f')).toEqual({ identityToken: 'tok' });
    expect(decodeAuthEntry({ auth: b64('user:pa:ss') }, 'f')).toEqual({ username: 'user', password: 'pa:ss' });
    expect(() => decodeAuthEntry({ auth: b64('nocolon') }, 'f')).toThrow(/not base64 of "user:password"/);
  });

  it.each([
    ['nginx:1.25', { auths: { 'https://index.docker.io/v1/': { username: 'u', password: 'p' } } }, { username: 'u', password: 'p' }],
    ['registry.example.com:5000/app:1', { auths: { 'registry.example.com:5000': { auth: Buffer.from('a:b').toString('base64') } } }, { username: 'a', password: 'b' }],
    ['eu.registry.example.com/app:1', { auths: { '*.registry.example.com': { username: 'w', password: 'x' } } }, { username: 'w', password: 'x' }],
    ['a.b.registry.example.com/app:1', { auths: { '*.registry.example.com': { username: 'w', password: 'x' } } }, undefined],
    ['quay.io/app:1', { 'quay.io': { auth: Buffer.from('legacy:y').toString('base64') } }, { username: 'legacy', password: 'y' }],
    ['ghcr.io/app:1', { auths: { 'quay.io': { username: 'u', password: 'p' } } }, undefined],
  ])('dockerconfigjson Secret for %s', (ref, doc, want) => {
    expect(credentialsFromDockerConfigJson(JSON.stringify(doc), ref)).toEqual(want);
  });

  it('login and logout keep the rest of the auth file', async () => {
    const file = path.join(dir, 'containers', 'auth.json');
    await fs.mkdir(path.dirname(file));
    await fs.writeFile(file, JSON.stringify({ auths: { 'quay.io': { auth: 'eDp5' } }, credHelpers: { 'gcr.io': 'gcloud' } }));
    await storeCredentials('http://127.0.0.1:5000/', { username: 'u', password: 'p' }, file);
    expect(JSON.parse(await fs.readFile(file, 'utf8'))).toEqual({
      auths: { 'quay.io': { auth: 'eDp5' }, '127.0.0.1:5000': { auth: Buffer.from('u:p').toString('base64') } },
      credHelpers: { 'gcr.io': 'gcloud' },
    });
    await removeCredentials('127.0.0.1:5000', { authFile: file });
    expect(JSON.parse(await fs.readFile(file, 'utf8')).auths).toEqual({ 'quay.io': { auth: 'eDp5' } });
    await expect(removeCredentials('127.0.0.1:5000', { authFile: file })).rejects.toThrow('not logged into 127.0.0.1:5000');
    expect(loginKey('docker.io')).toBe('docker.io');
    expect(loginKey('quay.io/org')).toBe('quay.io/org');
    expect(() => loginKey('quay.io/org:tag')).toThrow(/without tag or digest/);
  });
});

describe('WWW-Authenticate', () => {
  it.each([
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    ['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' } }]],
    ['Bearer realm="x", error="insufficient_scope", Basic realm="y"',
      [{ scheme: 'bearer', params: { realm: 'x', error: 'insufficient_scope' } }, { scheme: 'basic', params: { realm: 'y' } }]],
    ['Bearer realm=unquoted,service="a \\"quoted\\" one"', [{ scheme: 'bearer', params: { realm: 'unquoted', service: 'a "quoted" one' } }]],
    ['', []],
  ])('%s', (header, want) => {
    expect(parseWwwAuthenticate(header)).toEqual(want);
  });
});

describe('network errors', () => {
  it.each([
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5000' }, 'cannot connect to 127.0.0.1:5000: connection refused', true],
    [{ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND nope.invalid' }, 'cannot connect to 127.0.0.1:5000: no such host', false],
    [{ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self-signed certificate' }, /^certificate problem talking to 127\.0\.0\.1:5000: self-signed certificate \(no CA certificates found in \/c\/127\.0\.0\.1:5000\)$/, false],
    [{ code: 'EPROTO', reason: 'wrong version number', message: 'write EPROTO ...:wrong version number' }, /^127\.0\.0\.1:5000 does not speak TLS/, false],
    [{ code: 'ECONNRESET', message: 'socket hang up' }, 'connection reset (127.0.0.1:5000)', true],
  ])('%j', (raw, message, transient) => {
    const err = networkError(Object.assign(new Error(raw.message), raw), '127.0.0.1:5000', { ca: [], looked: ['/c/127.0.0.1:5000'], used: [] });
    if (typeof message === 'string') expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
    expect(err.transient).toBe(transient);
  });
});

describe('certs.d', () => {
  it('--cert-dir, then $PEAPOD_CERTS_D/HOST:PORT, then the system directories', async () => {
    expect(certDirsFor('r:5000', '/my/certs', {})).toEqual(['/my/certs']);
    expect(certDirsFor('r:5000', undefined, { PEAPOD_CERTS_D: '/t/certs.d' })).toEqual(['/t/certs.d/r:5000']);
    expect(certDirsFor('r:5000', undefined, {})).toEqual(expect.arrayContaining(['/etc/containers/certs.d/r:5000', '/etc/docker/certs.d/r:5000']));
    await fs.writeFile(path.join(dir, 'ca.crt'), 'CA');
    await fs.writeFile(path.join(dir, 'client.cert'), 'CERT');
    await fs.writeFile(path.join(dir, 'client.key'), 'KEY');
    const m = tlsMaterialFor('r:5000', dir);
    expect([m.ca.map(String), String(m.cert), String(m.key), m.used]).toEqual([['CA'], 'CERT', 'KEY', [dir]]);
    await fs.rm(path.join(dir, 'client.key'));
    expect(() => tlsMaterialFor('r:5000', dir)).toThrow(/client certificate .*client\.cert has no key client\.key/);
  });
});

describe('platform choice', () => {
  const d = (architecture: string, variant?: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${architecture[0]!.repeat(64)}`, size: 1, platform: { os: 'linux', architecture, variant } });
  it.each([
    [{ os: 'linux', architecture: 'amd64' }, 'amd64'],
    [{ os: 'linux', architecture: 'arm64' }, 'arm64/v8'],
    [{ os: 'linux', architecture: 'arm', variant: 'v6' }, 'arm/v6'],
  ])('%j', (want, got) => {
    const entries = [d('arm64', 'v8'), d('amd64'), d('arm', 'v7'), d('arm', 'v6')];
    const chosen = choosePlatform(entries, 'index', want);
    expect([chosen.platform?.architecture, chosen.platform?.variant].filter(Boolean).join('/')).toBe(got);
  });
});
