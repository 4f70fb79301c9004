import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventLog, MAX_LINE, eventLine, matchEvent, parseEventLine, readEvents, rfc3339Nano, timeNanos, type EngineEvent } from '../../engine/events.js';
import { parseEventFilters, parseEventTime } from '../../src/app/events.js';

const ev = (o: Partial<EngineEvent>): EngineEvent => ({ Status: 'start', Time: '2026-12-03T10:00:00.5Z', Type: 'container', Attributes: null, ...o });

async function all(dir: string, opts = {}): Promise<EngineEvent[]> {
  const out: EngineEvent[] = [];
  for await (const e of readEvents(dir, opts)) out.push(e);
  return out;
}

describe('event times', () => {
  it('are Go\'s RFC3339Nano (trailing zeros trimmed) and read back to the nanosecond', () => {
    expect(rfc3339Nano(1_764_756_000_123_456_789n)).toBe('2025-12-03T10:00:00.123456789Z');
    expect(rfc3339Nano(1_764_756_000_100_000_000n)).toBe('2025-12-03T10:00:00.1Z');
    expect(rfc3339Nano(1_764_756_000_000_000_000n)).toBe('2025-12-03T10:00:00Z');
    expect(timeNanos('2025-12-03T10:00:00.123456789Z')).toBe(1_764_756_000_123_456_789n);
    expect(timeNanos('nonsense')).toBeUndefined();
  });
  it.each([
    ['2026-12-03T10:00:00Z', 1_796_292_000_000_000_000n],
    ['2026-12-03T11:00:00+01:00', 1_796_292_000_000_000_000n],
    ['1796292000', 1_796_292_000_000_000_000n],
    ['1796292000.5', 1_796_292_000_500_000_000n],
    ['10m', 1_796_292_000_000_000_000n - 600_000_000_000n],
    ['1h30m', 1_796_292_000_000_000_000n - 5_400_000_000_000n],
  ])('--since %s', (v, want) => {
    expect(parseEventTime(v, '--since', 1_796_292_000_000)).toBe(want);
  });
  it('refuses what is not a time, naming the flag', () => {
    expect(() => parseEventTime('soon', '--until')).toThrow(/--until "soon": not a time/);
  });
});

describe('event filters', () => {
  it('parse Podman\'s keys; one key\'s values are alternatives, keys all apply', () => {
    const { filters, since } = parseEventFilters(['type=container', 'event=start', 'event=stop', 'since=5m']);
    expect(filters).toEqual({ type: ['container'], event: ['start', 'stop'] });
    expect(since).toBe('5m');
    expect(matchEvent(ev({ Status: 'stop' }), { filters })).toBe(true);
    expect(matchEvent(ev({ Status: 'died' }), { filters })).toBe(false);
    expect(matchEvent(ev({ Type: 'pod' }), { filters })).toBe(false);
    expect(() => parseEventFilters(['colour=red'])).toThrow(/invalid filter/);
    expect(() => parseEventFilters(['type=ship'])).toThrow(/unknown event type/);
  });
  it('match containers by name or ID prefix, pods with their containers, labels by key or key=value, images by name', () => {
    const c = ev({ ID: 'abcdef', Name: 'web', PodID: '123456', Image: 'docker.io/library/nginx:latest', Attributes: { app: 'web', 'x=y': 'z' } });
    expect(matchEvent(c, { filters: { container: ['abc'] } })).toBe(true);
    expect(matchEvent(c, { filters: { container: ['web'] } })).toBe(true);
    expect(matchEvent(c, { filters: { container: ['we'] } })).toBe(false);
    expect(matchEvent(c, { filters: { pod: ['1234'] } })).toBe(true);
    expect(matchEvent(c, { filters: { label: ['app'] } })).toBe(true);
    expect(matchEvent(c, { filters: { label: ['app=web'] } })).toBe(true);
    expect(matchEvent(c, { filters: { label: ['app=db'] } })).toBe(false);
    // a prototype key is no label
    expect(matchEvent(c, { filters: { label: ['constructor'] } })).toBe(false);
    expect(matchEvent(c, { filters: { image: ['nginx'] } })).toBe(true);
    expect(matchEvent(c, { since: timeNanos('2026-12-03T10:00:01Z') })).toBe(false);
    expect(matchEvent(c, { until: timeNanos('2026-12-03T10:00:01Z') })).toBe(true);
  });
});

describe('the journal file', () => {
  it('keeps a line under MAX_LINE by dropping the largest attributes first', () => {
    const big = ev({ Attributes: { small: 'x', huge: 'y'.repeat(MAX_LINE), big: 'z'.repeat(MAX_LINE / 2) } });
    const line = eventLine(big);
    expect(Buffer.byteLength(line)).toBeLessThan(MAX_LINE);
    expect(Object.keys(JSON.parse(line).Attributes).sort()).toEqual(['big', 'small']);
    const named = eventLine(ev({ ID: 'abc', Name: 'n'.repeat(2 * MAX_LINE) }));
    expect(JSON.parse(named)).toMatchObject({ ID: 'abc', Status: 'start' });
  });
  it('skips damaged lines and over-long lines when read back; records in order', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-events-unit-'));
    try {
      const log = new EventLog(dir);
      log.write({ ID: 'a1', Name: 'one', Status: 'create', Type: 'container', Attributes: { k: 'v"\n' } });
      appendFileSync(log.file, '{torn\n[1,2]\n{"Status":1,"Time":"x","Type":"pod"}\n' + 'q'.repeat(MAX_LINE + 10) + '\n{"Status":"x","Time":"t","Type":"pod","Attributes":{"a":{}}}\n');
      log.write({ ID: 'a2', Name: 'two', Status: 'start', Type: 'container' });
      const got = await all(dir);
      expect(got.map((e) => e.Name)).toEqual(['one', 'two']);
      expect(got[0]!.Attributes).toEqual({ k: 'v"\n' });
      expect(got[1]!.Attributes).toBeNull();
      expect(parseEventLine('null')).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('rotates to events.log.1 past its size and reads both, older first', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-events-unit-'));
    try {
      const log = new EventLog(dir, 4096);
      for (let i = 0; i < 100; i++) log.write({ ID: `id${i}`, Name: `n${i}`, Status: 'tag', Type: 'image' });
      const names = (await all(dir)).map((e) => e.Name);
      // the newest are all there, in order; the oldest went with an earlier rotation
      expect(names.at(-1)).toBe('n99');
      expect(names).toEqual([...names].sort((a, b) => Number(a!.slice(1)) - Number(b!.slice(1))));
      expect(readFileSync(path.join(dir, 'events.log.1'), 'utf8').length).toBeGreaterThanOrEqual(4096);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a write that cannot be made (the journal is a directory) does not throw', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-events-unit-'));
    try {
      writeFileSync(path.join(dir, 'x'), '');
      new EventLog(path.join(dir, 'x')).write({ Status: 'create', Type: 'pod' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
