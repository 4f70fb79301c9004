import { describe, it, expect } from 'vitest';
import { containerFilter, parseFilters } from '../../../src/app/bulk.js';
import type { ContainerRecord, PodRecord } from '../../../engine/types.js';

const ctr = (name: string, o: { labels?: Record<string, string>; status?: string; pod?: string; exitCode?: number } = {}) =>
  ({ id: `${name}`.padEnd(64, '0'), name, imageName: 'localhost/bb:latest', imageId: 'f'.repeat(64), spec: { name, image: 'bb', labels: o.labels, pod: o.pod }, state: { status: o.status ?? 'running', exitCode: o.exitCode ?? 0 } }) as unknown as ContainerRecord;
const pods = [{ id: 'p'.repeat(64), name: 'web' }] as unknown as PodRecord[];

describe('Podman filters', () => {
  it('parses KEY=VALUE, refusing anything else', () => {
    expect([...parseFilters(['label=a=b', 'name=x', 'name=y'])]).toEqual([['label', ['a=b']], ['name', ['x', 'y']]]);
    expect(() => parseFilters(['bogus'])).toThrow(/invalid filter "bogus"/);
  });
  it('different keys must all match, values of one key any; stopped is Podman\'s exited', () => {
    const list = [ctr('a', { labels: { app: 'x' } }), ctr('b', { labels: { app: 'y' }, status: 'stopped', exitCode: 3 }), ctr('c', { pod: 'p'.repeat(64) })];
    const pick = (f: string[]) => list.filter(containerFilter(f, pods)).map((c) => c.name);
    expect(pick(['label=app'])).toEqual(['a', 'b']);
    expect(pick(['label=app=y'])).toEqual(['b']);
    expect(pick(['name=^[ab]$', 'status=running'])).toEqual(['a']);
    expect(pick(['status=exited', 'exited=3'])).toEqual(['b']);
    expect(pick(['pod=web'])).toEqual(['c']);
    expect(pick(['name=a', 'name=c'])).toEqual(['a', 'c']);
    expect(() => pick(['color=red'])).toThrow(/color is an invalid filter for containers/);
  });
});
