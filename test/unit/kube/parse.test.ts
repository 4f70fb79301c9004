import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../../src/kube/diagnostics.js';
import { parseManifests } from '../../../src/kube/parse.js';
import { fixture } from './helpers.js';

function parseFixture(name: string) {
  return parseManifests(fixture(name), name);
}

describe('parseManifests: documents', () => {
  it('returns every non-empty document of a multi-document file, numbered by position in the file', () => {
    const { docs, errors } = parseFixture('multidoc.yaml');
    expect(errors).toEqual([]);
    expect(docs.map((d) => [d.index, d.apiVersion, d.kind, d.name])).toEqual([
      [1, 'v1', 'ConfigMap', 'web-config'],
      [2, 'v1', 'Pod', 'web'],
      [4, 'v1', 'Secret', 'creds'],
    ]);
    expect(docs.every((d) => d.basePath.length === 0 && d.list === undefined)).toBe(true);
    expect(docs[1].position(['spec', 'containers', 0, 'imagePullPolcy'])).toEqual({ line: 22, col: 7 });
  });

  it('expands kind: List into its items with positions and paths inside the List', () => {
    const { docs, errors } = parseFixture('list.yaml');
    expect(errors).toEqual([]);
    expect(docs.map((d) => [d.kind, d.name, d.basePath])).toEqual([
      ['ConfigMap', 'settings', ['items', 0]],
      ['Pod', 'app', ['items', 1]],
    ]);
    expect(docs[1].list?.kind).toBe('List');
    expect(docs[1].list).toBe(docs[0].list);
    expect(docs[1].value).toMatchObject({ kind: 'Pod', spec: { containers: [{ workingdir: '/srv' }] } });
    expect(docs[1].position([])).toEqual({ line: 12, col: 5 });
    expect(docs[1].position(['spec', 'containers', 0, 'workingdir'])).toEqual({ line: 20, col: 11 });
  });

  it('expands nested Lists and reports items that are not objects', () => {
    const { docs, errors } = parseFixture('list-problems.yaml');
    expect(docs.map((d) => [d.kind, d.basePath.join('.')])).toEqual([
      ['Service', 'items.0.items.0'],
      ['ConfigMap', 'items.2'],
    ]);
    expect(errors.map(formatDiagnostic)).toEqual([
      'list-problems.yaml:16:5: items[1]: list item must be a mapping (a Kubernetes object), got string "just a string"',
      'list-problems.yaml:26:1: warning: List has no items',
    ]);
  });

  it('skips empty documents and files', () => {
    for (const text of ['', '# only a comment\n', '---\n---\n', '~\n', '--- null\n']) {
      expect(parseManifests(text, 'empty.yaml')).toEqual({ docs: [], errors: [] });
    }
  });
});

describe('parseManifests: errors', () => {
  const cases: Array<{ name: string; file: string; kinds: string[]; want: string[] }> = [
    {
      name: 'syntax error with its position',
      file: 'syntax.yaml',
      kinds: [],
      want: ['syntax.yaml:10:7: invalid yaml: flow sequence in block collection must be sufficiently indented and end with a ]'],
    },
    {
      name: 'duplicate keys, at the second key (the document is still returned)',
      file: 'duplicate-key.yaml',
      kinds: ['Pod'],
      want: [
        'duplicate-key.yaml:5:3: metadata.name: duplicate key "name"',
        'duplicate-key.yaml:10:7: spec.containers[0].image: duplicate key "image"',
      ],
    },
    {
      name: 'documents that are not mappings',
      file: 'not-mapping.yaml',
      kinds: ['Pod'],
      want: [
        'not-mapping.yaml:1:1: document must be a mapping (a Kubernetes object), got a sequence',
        'not-mapping.yaml:4:1: document must be a mapping (a Kubernetes object), got a scalar (string "just a string")',
      ],
    },
  ];
  it.each(cases)('$name', ({ file, kinds, want }) => {
    const { docs, errors } = parseFixture(file);
    expect(errors.map(formatDiagnostic)).toEqual(want);
    expect(docs.map((d) => d.kind)).toEqual(kinds);
  });

  it('a syntax error in one document keeps the others', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkey: v\n  bad: 1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n';
    const { docs, errors } = parseManifests(text, 'x.yaml');
    expect(docs.map((d) => [d.index, d.name])).toEqual([[0, 'a'], [2, 'b']]);
    expect(errors.map(formatDiagnostic)).toEqual(['x.yaml:5:6: invalid yaml: nested mappings are not allowed in compact mappings']);
  });

  it('refuses alias bombs', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++) {
      const prev = String.fromCharCode(97 + i);
      const cur = String.fromCharCode(98 + i);
      lines.push(`${cur}: &${cur} [${new Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const { docs, errors } = parseManifests(lines.join('\n') + '\n', 'bomb.yaml');
    expect(docs).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toMatch(/^invalid yaml: /);
  });
});

describe('parseManifests: YAML as Kubernetes reads it', () => {
  it('reads YAML 1.1 scalars and merge keys like go-yaml, keeping timestamps as strings', () => {
    const { docs, errors } = parseFixture('anchors.yaml');
    expect(errors).toEqual([]);
    expect(docs[0].value).toMatchObject({
      spec: {
        volumes: [{ configMap: { defaultMode: 0o644 } }],
        containers: [
          { name: 'one', image: 'busybox', stdin: true, tty: true },
          { name: 'two', image: 'busybox', stdin: true, tty: true, imagePullPolicy: 'Never' },
        ],
      },
    });
    const { docs: [ts] } = parseManifests('kind: Pod\nmetadata:\n  creationTimestamp: 2024-01-02T03:04:05Z\n  x: 1:20\n', 't.yaml');
    expect(ts.value).toEqual({ kind: 'Pod', metadata: { creationTimestamp: '2024-01-02T03:04:05Z', x: '1:20' } });
  });

  it('positions: keys, array items, merged keys, nearest existing ancestor', () => {
    const { docs: [doc] } = parseFixture('anchors.yaml');
    const cases: Array<[Array<string | number>, number, number]> = [
      [[], 2, 1],
      [['spec'], 6, 1],
      [['spec', 'containers'], 12, 3],
      [['spec', 'containers', 0], 14, 7],
      [['spec', 'containers', 1, 'name'], 19, 7],
      [['spec', 'containers', 1, 'image'], 15, 7], // from the anchor via <<: *base
      [['spec', 'containers', 1, 'cmd', 0], 21, 13],
      [['spec', 'containers', 5, 'name'], 12, 3], // no such item: the list
      [['spec', 'volumes', 0, 'configMap', 'defaultMode', 'x'], 11, 9], // below a scalar: the scalar's key
      [['nope', 'deeper'], 2, 1],
    ];
    for (const [path, line, col] of cases) expect({ path, ...doc.position(path) }).toEqual({ path, line, col });
  });

  it('a key without a value positions deeper paths at the key', () => {
    const { docs: [doc] } = parseManifests('kind: Pod\nspec:\n  containers:\n  - name: a\n    resources:\n', 'n.yaml');
    expect(doc.position(['spec', 'containers', 0, 'resources', 'limits', 'cpu'])).toEqual({ line: 5, col: 5 });
  });
});
