import { describe, expect, it } from 'vitest';
import { formatDiagnostic, formatPath, hasErrors, sortDiagnostics, type Diagnostic } from '../../../src/kube/diagnostics.js';

const d = (over: Partial<Diagnostic>): Diagnostic => ({
  file: 'web.yaml', line: 9, col: 5, path: 'spec.containers[0].comand', message: 'unknown field (did you mean "command"?)',
  severity: 'error', ...over,
});

describe('formatPath', () => {
  const cases: Array<{ name: string; path: Array<string | number>; want: string }> = [
    { name: 'empty', path: [], want: '' },
    { name: 'dotted keys', path: ['spec', 'restartPolicy'], want: 'spec.restartPolicy' },
    { name: 'array indices', path: ['spec', 'containers', 0, 'ports', 1, 'containerPort'], want: 'spec.containers[0].ports[1].containerPort' },
    { name: 'non-identifier keys quoted', path: ['metadata', 'labels', 'app.kubernetes.io/name'], want: 'metadata.labels["app.kubernetes.io/name"]' },
    { name: 'hyphen and quote', path: ['data', 'my-key', 'a"b'], want: 'data["my-key"]["a\\"b"]' },
    { name: 'leading index', path: ['items', 1, 'spec'], want: 'items[1].spec' },
    { name: 'leading quoted key', path: ['a.b'], want: '["a.b"]' },
  ];
  it.each(cases)('$name', ({ path, want }) => {
    expect(formatPath(path)).toBe(want);
  });
});

describe('formatDiagnostic', () => {
  const cases: Array<{ name: string; diag: Diagnostic; want: string }> = [
    { name: 'error', diag: d({}), want: 'web.yaml:9:5: spec.containers[0].comand: unknown field (did you mean "command"?)' },
    { name: 'warning', diag: d({ severity: 'warning' }), want: 'web.yaml:9:5: warning: spec.containers[0].comand: unknown field (did you mean "command"?)' },
    { name: 'no path', diag: d({ line: 1, col: 1, path: '', message: 'missing required field "kind"' }), want: 'web.yaml:1:1: missing required field "kind"' },
  ];
  it.each(cases)('$name', ({ diag, want }) => {
    expect(formatDiagnostic(diag)).toBe(want);
  });
});

describe('sortDiagnostics', () => {
  it('orders by file (the given order, then the others by name), line, col and drops duplicates', () => {
    const input = [
      d({ file: 'c.yaml', line: 1, col: 1 }),
      d({ file: 'b.yaml', line: 3, col: 1 }),
      d({ file: 'a.yaml', line: 2, col: 7 }),
      d({ file: 'b.yaml', line: 1, col: 9 }),
      d({ file: 'b.yaml', line: 1, col: 2 }),
      d({ file: 'b.yaml', line: 1, col: 2 }),
    ];
    expect(sortDiagnostics(input, ['b.yaml']).map((x) => `${x.file}:${x.line}:${x.col}`)).toEqual([
      'b.yaml:1:2', 'b.yaml:1:9', 'b.yaml:3:1', 'a.yaml:2:7', 'c.yaml:1:1',
    ]);
    expect(sortDiagnostics(input).map((x) => x.file)).toEqual(['a.yaml', 'b.yaml', 'b.yaml', 'b.yaml', 'c.yaml']);
  });

  it('hasErrors ignores warnings', () => {
    expect(hasErrors([d({ severity: 'warning' })])).toBe(false);
    expect(hasErrors([d({ severity: 'warning' }), d({})])).toBe(true);
  });
});
