import { describe, it, expect } from 'vitest';
import { policyOf } from '../../../src/app/autoupdate.js';
import type { ContainerRecord, PodRecord } from '../../../engine/types.js';

const ctr = (labels?: Record<string, string>, kubeName = 'web') => ({ name: 'p-web', spec: { name: 'p-web', image: 'x', labels, kubeName } }) as unknown as ContainerRecord;
const pod = (annotations: Record<string, string>) => ({ spec: { name: 'p', annotations } }) as unknown as PodRecord;

describe('auto-update policy of a container (Podman: label, pod annotation per container, pod annotation)', () => {
  it.each([
    ['none', ctr(), undefined, undefined],
    ['label registry', ctr({ 'io.containers.autoupdate': 'registry' }), undefined, 'registry'],
    ['label image (old word for registry)', ctr({ 'io.containers.autoupdate': 'image' }), undefined, 'registry'],
    ['label disabled', ctr({ 'io.containers.autoupdate': 'disabled' }), pod({ 'io.containers.autoupdate': 'local' }), undefined],
    ['empty label', ctr({ 'io.containers.autoupdate': '' }), undefined, undefined],
    ['pod annotation', ctr(), pod({ 'io.containers.autoupdate': 'local' }), 'local'],
    ['per-container annotation beats the pod one', ctr(), pod({ 'io.containers.autoupdate': 'local', 'io.containers.autoupdate/web': 'registry' }), 'registry'],
    ['another container\'s annotation', ctr(), pod({ 'io.containers.autoupdate/db': 'registry' }), undefined],
  ] as const)('%s', (_n, c, p, want) => {
    expect(policyOf(c, p)).toBe(want);
  });
  it('a value that is not a policy is an error naming the container', () => {
    expect(() => policyOf(ctr(), pod({ 'io.containers.autoupdate': 'constructor' }))).toThrow('auto-updating container "p-web": invalid auto-update policy "constructor": valid policies are ["disabled" "image" "local" "registry"]');
    expect(() => policyOf(ctr({ 'io.containers.autoupdate': 'toString' }))).toThrow(/invalid auto-update policy "toString"/);
  });
});
