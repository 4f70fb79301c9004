import { describe, expect, it } from 'vitest';
import { PeapodError } from '../../../engine/errors.js';
import { normalizeImageName, parseReference, shortNameMatches, splitName } from '../../../engine/image/reference.js';

const DIGEST = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

describe('normalizeImageName (Podman libimage.NormalizeName: localhost default)', () => {
  it.each([
    ['busybox', 'localhost/busybox:latest'],
    ['busybox:latest', 'localhost/busybox:latest'],
    ['busybox:1.36', 'localhost/busybox:1.36'],
    ['ns/busybox:latest', 'localhost/ns/busybox:latest'],            // a dot-less first component is a path
    ['localhost/busybox', 'localhost/busybox:latest'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['example.com/busybox', 'example.com/busybox:latest'],
    ['example.com/busybox:notlatest', 'example.com/busybox:notlatest'],
    [`example.com/busybox@${DIGEST}`, `example.com/busybox@${DIGEST}`],
    [`example.com/busybox:notlatest@${DIGEST}`, `example.com/busybox@${DIGEST}`], // tag dropped next to a digest
    [`busybox:latest@${DIGEST}`, `localhost/busybox@${DIGEST}`],
    ['docker.io/busybox:latest', 'docker.io/library/busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['quay.io/a/b/c:v1', 'quay.io/a/b/c:v1'],
    ['my-app_1.x', 'localhost/my-app_1.x:latest'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeImageName(input)).toBe(expected);
  });

  it.each(['#', '', 'Busybox', 'busybox:', 'busybox::1', '-busybox', 'a//b', 'busybox:tag with space'])('rejects %j', (input) => {
    expect(() => normalizeImageName(input)).toThrow(PeapodError);
    try { normalizeImageName(input); } catch (e) { expect((e as PeapodError).code).toBe('invalid'); }
  });

  it('rejects a 64-hex name (it would be an image ID)', () => {
    expect(() => normalizeImageName('a'.repeat(64))).toThrow(/64-byte hexadecimal/);
  });

  it('says why an upper-case repository is refused', () => {
    expect(() => normalizeImageName('Busybox')).toThrow(/must be lowercase: "Busybox"/);
  });
});

describe('normalizeImageName with Docker rules (docker-archive RepoTags)', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1', 'docker.io/library/busybox:1'],
    ['ns/app:2', 'docker.io/ns/app:2'],
    ['localhost/app', 'localhost/app:latest'],
    ['quay.io/x/y', 'quay.io/x/y:latest'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeImageName(input, { defaultDomain: 'docker.io' })).toBe(expected);
  });
});

describe('parseReference / splitName / shortNameMatches', () => {
  it('splits domain, path, tag and digest', () => {
    expect(parseReference('localhost:5000/a/b:t')).toEqual({ domain: 'localhost:5000', path: 'a/b', tag: 't', digest: undefined });
    expect(parseReference('busybox')).toEqual({ domain: '', path: 'busybox', tag: undefined, digest: undefined });
    expect(parseReference(`x@${DIGEST}`).digest).toBe(DIGEST);
  });

  it('splits stored names', () => {
    expect(splitName('localhost:5000/a:1')).toEqual({ repository: 'localhost:5000/a', tag: '1' });
    expect(splitName(`docker.io/library/a@${DIGEST}`)).toEqual({ repository: 'docker.io/library/a', digest: DIGEST });
  });

  it('matches short names at a path boundary with the same tag', () => {
    const short = parseReference('busybox');
    expect(shortNameMatches(short, 'docker.io/library/busybox:latest')).toBe(true);
    expect(shortNameMatches(short, 'quay.io/x/busybox:latest')).toBe(true);
    expect(shortNameMatches(short, 'quay.io/x/notbusybox:latest')).toBe(false);
    expect(shortNameMatches(short, 'docker.io/library/busybox:1')).toBe(false);
    expect(shortNameMatches(parseReference('busybox:1'), 'docker.io/library/busybox:1')).toBe(true);
    expect(shortNameMatches(parseReference('library/busybox'), 'docker.io/library/busybox:latest')).toBe(true);
  });
});
