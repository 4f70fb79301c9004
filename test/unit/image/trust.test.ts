// The pure parts of the signature policy: scopes (most specific wins), requirement parsing and
// its errors, the simple-signing payload and every signedIdentity rule.
import { describe, expect, it } from 'vitest';
import { dockerScopes, parsePolicy, requirementsFor } from '../../../engine/image/trust/policy.js';
import { identityMismatch, makePayload, parsePayload, GPG_PAYLOAD_TYPE, SIGSTORE_PAYLOAD_TYPE } from '../../../engine/image/trust/payload.js';
import { lookasideBase, lookasideUrl } from '../../../engine/image/trust/registries-d.js';

const policy = (v: unknown) => parsePolicy(JSON.stringify(v), '/etc/containers/policy.json');

describe('policy scopes', () => {
  it('lists the docker scopes most specific first', () => {
    expect(dockerScopes('reg.example.com:5000/ns/app:v1')).toEqual([
      'reg.example.com:5000/ns/app:v1', 'reg.example.com:5000/ns/app', 'reg.example.com:5000/ns', 'reg.example.com:5000', '*.example.com', '*.com',
    ]);
    expect(dockerScopes('docker.io/library/busybox@sha256:' + 'a'.repeat(64))[0]).toBe('docker.io/library/busybox@sha256:' + 'a'.repeat(64));
  });

  it('the most specific scope wins, then the transport default, then default', () => {
    const p = policy({
      default: [{ type: 'reject' }],
      transports: { docker: {
        '': [{ type: 'insecureAcceptAnything' }],
        'r.io/ns': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k.gpg' }],
        'r.io/ns/app:v2': [{ type: 'reject' }],
        '*.corp.io': [{ type: 'sigstoreSigned', keyData: Buffer.from('x').toString('base64') }],
      } },
    });
    expect(requirementsFor(p, 'r.io/ns/app:v1')).toMatchObject({ scope: 'docker:r.io/ns', requirements: [{ type: 'signedBy', keys: { paths: ['/k.gpg'] }, signedIdentity: { type: 'matchRepoDigestOrExact' } }] });
    expect(requirementsFor(p, 'r.io/ns/app:v2')).toMatchObject({ scope: 'docker:r.io/ns/app:v2', requirements: [{ type: 'reject' }] });
    expect(requirementsFor(p, 'a.corp.io/x:1').scope).toBe('docker:*.corp.io');
    expect(requirementsFor(p, 'other.io/x:1')).toMatchObject({ scope: 'docker:', requirements: [{ type: 'insecureAcceptAnything' }] });
    expect(requirementsFor(policy({ default: [{ type: 'reject' }] }), 'x.io/a:1').scope).toBe('default');
  });

  it('refuses malformed requirements with the file and place', () => {
    const req = (r: unknown) => () => requirementsFor(policy({ default: [r] }), 'x.io/a:1');
    expect(req({ type: 'signedBy', keyType: 'GPGKeys' })).toThrow(/policy.json: default\[0\]: exactly one of keyPath, keyPaths and keyData/);
    expect(req({ type: 'signedBy', keyType: 'signedByGPGKeys', keyPath: '/k' })).toThrow(/keyType "signedByGPGKeys" is not supported/);
    expect(req({ type: 'sigstoreSigned', fulcio: { caPath: '/ca' }, rekorPublicKeyPath: '/r' })).toThrow(/fulcio or rekor is not supported/);
    expect(req({ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k', signedIdentity: { type: 'exactReference' } })).toThrow(/exactReference needs a non-empty "dockerReference"/);
    expect(req({ type: 'nope' })).toThrow(/unknown requirement type "nope"/);
    expect(() => requirementsFor(policy({ default: [] }), 'x.io/a:1')).toThrow(/empty list of requirements/);
    expect(() => parsePolicy('{', '/p.json')).toThrow(/not valid JSON/);
    expect(() => parsePolicy('{"transports": {}}', '/p.json')).toThrow(/default: missing/);
  });
});

describe('simple-signing payload and signedIdentity', () => {
  const digest = 'sha256:' + 'b'.repeat(64);
  it('round-trips and is strict', () => {
    const p = makePayload({ dockerReference: 'r.io/a:v1', manifestDigest: digest }, GPG_PAYLOAD_TYPE);
    expect(parsePayload(p, GPG_PAYLOAD_TYPE)).toEqual({ dockerReference: 'r.io/a:v1', manifestDigest: digest });
    expect(() => parsePayload(p, SIGSTORE_PAYLOAD_TYPE)).toThrow(/type "atomic container signature"/);
    const extra = JSON.parse(p.toString());
    extra.critical.other = 1;
    expect(() => parsePayload(Buffer.from(JSON.stringify(extra)), GPG_PAYLOAD_TYPE)).toThrow(/unknown critical field "other"/);
  });

  it('applies each identity rule', () => {
    const m = identityMismatch;
    expect(m({ type: 'matchRepoDigestOrExact' }, 'r.io/a:v1', 'r.io/a:v1')).toBeUndefined();
    expect(m({ type: 'matchRepoDigestOrExact' }, 'r.io/a:v1', 'r.io/a:v2')).toMatch(/for r.io\/a:v2, not r.io\/a:v1/);
    expect(m({ type: 'matchRepoDigestOrExact' }, `r.io/a@${digest}`, 'r.io/a:v2')).toBeUndefined();
    expect(m({ type: 'matchRepoDigestOrExact' }, `r.io/a@${digest}`, 'r.io/b:v2')).toMatch(/repository r.io\/b/);
    expect(m({ type: 'matchExact' }, 'r.io/a:v1', 'r.io/a:v1')).toBeUndefined();
    expect(m({ type: 'matchExact' }, `r.io/a@${digest}`, 'r.io/a:v1')).toMatch(/not r.io\/a@/);
    expect(m({ type: 'matchRepository' }, 'r.io/a:v1', 'r.io/a:other')).toBeUndefined();
    expect(m({ type: 'matchRepository' }, 'docker.io/library/busybox:latest', 'busybox')).toBeUndefined();
    expect(m({ type: 'exactReference', dockerReference: 'q.io/x:1' }, 'r.io/a:v1', 'q.io/x:1')).toBeUndefined();
    expect(m({ type: 'exactReference', dockerReference: 'q.io/x:1' }, 'r.io/a:v1', 'r.io/a:v1')).toMatch(/wants exactly q.io\/x:1/);
    expect(m({ type: 'exactRepository', dockerRepository: 'q.io/x' }, 'r.io/a:v1', 'q.io/x:9')).toBeUndefined();
    const remap = { type: 'remapIdentity' as const, prefix: 'mirror.io/proxy', signedPrefix: 'r.io' };
    expect(m(remap, 'mirror.io/proxy/a:v1', 'r.io/a:v1')).toBeUndefined();
    expect(m(remap, 'mirror.io/proxyx/a:v1', 'r.io/a:v1')).toMatch(/not mirror.io\/proxyx\/a:v1/);
    expect(m({ type: 'matchExact' }, 'r.io/a:v1', 'Not A Ref')).toMatch(/invalid reference/);
  });

  it('builds lookaside URLs as containers/image does (repository path without the host)', () => {
    const conf = { dir: '/d', defaultDocker: { lookaside: 'file:///sig' }, docker: new Map([['r.io/ns', { lookaside: 'https://sigs.r.io/x', lookasideStaging: 'file:///stage' }]]) };
    expect(lookasideUrl(lookasideBase(conf, 'r.io/ns/app:v1', false), digest, 2)).toBe(`https://sigs.r.io/x/ns/app@sha256=${'b'.repeat(64)}/signature-2`);
    expect(lookasideBase(conf, 'r.io/ns/app:v1', true)).toBe('file:///stage/ns/app');
    expect(lookasideBase(conf, 'q.io/app:v1', true)).toBe('file:///sig/app');
  });
});
