import { describe, expect, it } from 'vitest';
import { findImage, repoDigestsOf } from '../../../engine/image/store.js';
import type { ImageRecord } from '../../../engine/types.js';

const D1 = `sha256:${'d1'.repeat(32)}`;
const D2 = `sha256:${'d2'.repeat(32)}`;

function image(id: string, names: string[], digest = D1): ImageRecord {
  return {
    id, names, namesHistory: names, digest, digests: [digest], manifestType: 'application/vnd.oci.image.manifest.v1+json',
    repoDigests: repoDigestsOf(names, [digest]), created: '2024-01-01T00:00:00Z', size: 0, layers: [],
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
  };
}

const A = image(`abc1${'0'.repeat(60)}`, ['docker.io/library/busybox:latest', 'localhost/tools:1']);
const B = image(`abc2${'0'.repeat(60)}`, ['localhost/busybox:latest'], D2);
const C = image(`f00d${'0'.repeat(60)}`, ['quay.io/team/app:v2']);
const N = image(`9999${'0'.repeat(60)}`, []);
const ALL = [A, B, C, N];

describe('findImage', () => {
  it('finds by full ID, with or without sha256:', () => {
    expect(findImage(C.id, ALL)).toMatchObject({ image: C, by: 'id' });
    expect(findImage(`sha256:${C.id}`, ALL)).toMatchObject({ image: C, by: 'id' });
    expect(findImage(`sha256:${'e'.repeat(64)}`, ALL)).toBeUndefined();
  });

  it('finds by a unique ID prefix of 3+ hex digits and refuses an ambiguous one', () => {
    expect(findImage('f00', ALL)).toMatchObject({ image: C, by: 'id' });
    expect(findImage('abc2', ALL)).toMatchObject({ image: B, by: 'id' });
    expect(findImage('sha256:f00d', ALL)).toMatchObject({ image: C, by: 'id' });
    expect(findImage('999', ALL)).toMatchObject({ image: N, by: 'id' }); // a nameless image too
    expect(() => findImage('abc', ALL)).toThrow(/image ID prefix "abc" is ambiguous: it matches abc100000000, abc200000000/);
    expect(findImage('fo', ALL)).toBeUndefined(); // too short to be a prefix, and no such name
  });

  it('prefers localhost/NAME for a short name, like Podman', () => {
    expect(findImage('busybox', ALL)).toMatchObject({ image: B, by: 'name', name: 'localhost/busybox:latest' });
    expect(findImage('busybox', [A, C])).toMatchObject({ image: A, name: 'docker.io/library/busybox:latest' });
    expect(findImage('busybox:latest', [A])).toMatchObject({ image: A });
    expect(findImage('busybox:1', [A])).toBeUndefined();
    expect(findImage('tools:1', ALL)).toMatchObject({ image: A, name: 'localhost/tools:1' });
  });

  it('matches the repository suffix of other registries (fuzzy short names)', () => {
    expect(findImage('app:v2', ALL)).toMatchObject({ image: C, name: 'quay.io/team/app:v2' });
    expect(findImage('team/app:v2', ALL)).toMatchObject({ image: C });
    expect(findImage('app', ALL)).toBeUndefined(); // tag "latest" does not match v2
    expect(findImage('eam/app:v2', ALL)).toBeUndefined(); // only at a path boundary
  });

  it('refuses a short name that matches several images', () => {
    const X = image(`1111${'0'.repeat(60)}`, ['quay.io/a/web:latest']);
    const Y = image(`2222${'0'.repeat(60)}`, ['ghcr.io/b/web:latest']);
    expect(() => findImage('web', [X, Y])).toThrow(/short name "web" matches several images: quay.io\/a\/web:latest, ghcr.io\/b\/web:latest/);
  });

  it('finds full names exactly, normalising docker.io', () => {
    expect(findImage('docker.io/library/busybox:latest', ALL)).toMatchObject({ image: A, by: 'name' });
    expect(findImage('docker.io/busybox', ALL)).toMatchObject({ image: A, name: 'docker.io/library/busybox:latest' });
    expect(findImage('localhost/busybox', ALL)).toMatchObject({ image: B });
    expect(findImage('quay.io/team/app', ALL)).toBeUndefined();
  });

  it('finds by repository and digest, and by manifest digest', () => {
    expect(findImage(`quay.io/team/app@${D1}`, ALL)).toMatchObject({ image: C, by: 'digest' });
    expect(findImage(`busybox@${D2}`, ALL)).toMatchObject({ image: B, by: 'digest' });
    expect(findImage(D2, ALL)).toMatchObject({ image: B, by: 'digest' });
    expect(findImage(`quay.io/team/app@${D2}`, ALL)).toBeUndefined();
  });

  it('reports malformed references', () => {
    expect(() => findImage('Not/Valid!', ALL)).toThrow(/invalid reference format/);
    expect(findImage('', ALL)).toBeUndefined();
  });
});

describe('repoDigestsOf', () => {
  it('is every repository with every digest, sorted and unique', () => {
    expect(repoDigestsOf(['docker.io/library/busybox:latest', 'docker.io/library/busybox:1', 'localhost/b:x'], [D1, D2])).toEqual([
      `docker.io/library/busybox@${D1}`, `docker.io/library/busybox@${D2}`, `localhost/b@${D1}`, `localhost/b@${D2}`,
    ]);
    expect(repoDigestsOf([], [D1])).toEqual([]);
  });
});
