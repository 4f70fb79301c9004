import { describe, it, expect } from 'vitest';
import { renderTemplate, alignTable, humanDuration } from '../../../src/cli/format.js';
import { VERSION } from '../../../src/cli/version.js';
import pkg from '../../../package.json' with { type: 'json' };

describe('Go-style templates', () => {
  const data = { Name: 'web', State: { Pid: 42, Status: 'running' }, Names: ['a', 'b'], Labels: { app: 'x' } };
  it.each([
    { name: 'field path', tpl: '{{.State.Pid}}', out: '42' },
    { name: 'several fields', tpl: '{{.Name}} {{.State.Status}}', out: 'web running' },
    { name: 'json function', tpl: '{{json .State}}', out: '{"Pid":42,"Status":"running"}' },
    { name: 'json pipeline', tpl: '{{.Names | json}}', out: '["a","b"]' },
    { name: 'index into a map', tpl: '{{index .Labels "app"}}', out: 'x' },
    { name: 'join', tpl: '{{join .Names ","}}', out: 'a,b' },
    { name: 'case-insensitive fallback (Podman answers {{.ID}} too)', tpl: '{{.name}}', out: 'web' },
    { name: 'missing field', tpl: '{{.Nope}}', out: '<no value>' },
    { name: 'tab escape', tpl: '{{.Name}}\\t{{.State.Pid}}', out: 'web\t42' },
  ])('$name', ({ tpl, out }) => {
    expect(renderTemplate(tpl, data)).toBe(out);
  });
});

describe('tables and durations', () => {
  it('aligns columns with two spaces like tabwriter', () => {
    expect(alignTable([['A', 'BB', 'C'], ['xxx', 'y', 'z']])).toBe('A    BB  C\nxxx  y   z\n');
  });
  it.each([
    { ms: 500, out: 'Less than a second' },
    { ms: 1500, out: '1 second' },
    { ms: 3000, out: '3 seconds' },
    { ms: 90_000, out: 'About a minute' },
    { ms: 150_000, out: '2 minutes' },
    { ms: 3_600_000, out: 'About an hour' },
    { ms: 3 * 86_400_000, out: '3 days' },
  ])('$ms ms is "$out"', ({ ms, out }) => expect(humanDuration(ms)).toBe(out));
  it('the CLI version is the package version', () => expect(VERSION).toBe(pkg.version));
});
