import { describe, expect, it } from 'vitest';
import { formatDiagnostic, sortDiagnostics, type Diagnostic } from '../../../src/kube/diagnostics.js';
import { parseManifests, type ParsedDoc } from '../../../src/kube/parse.js';
import { didYouMean, editDistance, parseQuantity, validateDocs } from '../../../src/kube/validate.js';
import { fixture } from './helpers.js';

/** parse + validate like `peapod play kube`, every diagnostic formatted for the user. */
function check(files: string[], mode: 'strict' | 'warn' = 'strict'): string[] {
  const docs: ParsedDoc[] = [];
  const diags: Diagnostic[] = [];
  for (const file of files) {
    const parsed = parseManifests(fixture(file), file);
    docs.push(...parsed.docs);
    diags.push(...parsed.errors);
  }
  diags.push(...validateDocs(docs, { mode }));
  return sortDiagnostics(diags, files).map(formatDiagnostic);
}

interface Case {
  name: string;
  files: string[];
  mode?: 'strict' | 'warn';
  want: string[];
}

const cases: Case[] = [
  {
    name: 'typo under a container',
    files: ['typo.yaml'],
    want: ['typo.yaml:9:7: spec.containers[0].comand: unknown field (did you mean "command"?)'],
  },
  {
    name: 'valid Pod: quantities as numbers, int-or-string probe ports, octal modes, nulls',
    files: ['valid-pod.yaml'],
    want: [],
  },
  {
    name: 'valid objects of every supported kind',
    files: ['valid-all.yaml'],
    want: [],
  },
  {
    name: 'multiple problems reported at once, in order',
    files: ['multiple.yaml'],
    want: [
      'multiple.yaml:6:5: metadata.labels.tier: expected string, got integer 3',
      'multiple.yaml:8:3: spec.restartPolicy: must be one of "Always", "OnFailure", "Never" (got "Sometimes")',
      'multiple.yaml:14:11: spec.containers[0].ports[0].containerPort: expected integer, got string "abc"',
      'multiple.yaml:15:11: spec.containers[0].ports[0].protocl: unknown field (did you mean "protocol"?)',
      'multiple.yaml:18:11: spec.containers[0].resources.limits.memory: invalid quantity "64MB" (expected a number with an optional suffix, e.g. 500m, 1, 64Mi, 1Gi)',
      'multiple.yaml:19:7: spec.containers[1]: missing required field "name"',
      'multiple.yaml:20:7: spec.containers[1].tty: expected boolean, got string "yes"',
      'multiple.yaml:24:7: spec.volumes[0].hostpath: unknown field (did you mean "hostPath"?)',
    ],
  },
  {
    name: 'warn mode: unknown fields become warnings, the rest stay errors',
    files: ['multiple.yaml'],
    mode: 'warn',
    want: [
      'multiple.yaml:6:5: metadata.labels.tier: expected string, got integer 3',
      'multiple.yaml:8:3: spec.restartPolicy: must be one of "Always", "OnFailure", "Never" (got "Sometimes")',
      'multiple.yaml:14:11: spec.containers[0].ports[0].containerPort: expected integer, got string "abc"',
      'multiple.yaml:15:11: warning: spec.containers[0].ports[0].protocl: unknown field (did you mean "protocol"?)',
      'multiple.yaml:18:11: spec.containers[0].resources.limits.memory: invalid quantity "64MB" (expected a number with an optional suffix, e.g. 500m, 1, 64Mi, 1Gi)',
      'multiple.yaml:19:7: spec.containers[1]: missing required field "name"',
      'multiple.yaml:20:7: spec.containers[1].tty: expected boolean, got string "yes"',
      'multiple.yaml:24:7: warning: spec.volumes[0].hostpath: unknown field (did you mean "hostPath"?)',
    ],
  },
  {
    name: 'warn mode on the typo manifest',
    files: ['typo.yaml'],
    mode: 'warn',
    want: ['typo.yaml:9:7: warning: spec.containers[0].comand: unknown field (did you mean "command"?)'],
  },
  {
    name: 'syntax error: position, nothing else validated in that document',
    files: ['syntax.yaml'],
    want: ['syntax.yaml:10:7: invalid yaml: flow sequence in block collection must be sufficiently indented and end with a ]'],
  },
  {
    name: 'multi-document file: problems found in the right document',
    files: ['multidoc.yaml'],
    want: ['multidoc.yaml:22:7: spec.containers[0].imagePullPolcy: unknown field (did you mean "imagePullPolicy"?)'],
  },
  {
    name: 'List: items validated with paths inside the List',
    files: ['list.yaml'],
    want: ['list.yaml:20:11: items[1].spec.containers[0].workingdir: unknown field (did you mean "workingDir"?)'],
  },
  {
    name: 'List problems: wrapper fields, nested Lists, non-object items, empty List',
    files: ['list-problems.yaml'],
    want: [
      'list-problems.yaml:3:1: metdata: unknown field (did you mean "metadata"?)',
      'list-problems.yaml:15:15: items[0].items[0].spec.ports[0].targetPort: expected integer or string, got boolean true',
      'list-problems.yaml:16:5: items[1]: list item must be a mapping (a Kubernetes object), got string "just a string"',
      'list-problems.yaml:24:7: items[2].binaryData.a: duplicate key "a" (also in data)',
      'list-problems.yaml:26:1: warning: List has no items',
    ],
  },
  {
    name: 'Deployment with a typo in its pod template',
    files: ['deployment-typo.yaml'],
    want: ['deployment-typo.yaml:23:15: spec.template.spec.containers[0].readinessProbe.httpGet.paht: unknown field (did you mean "path"?)'],
  },
  {
    name: 'controllers: selector must match template labels, restart policies',
    files: ['controllers.yaml'],
    want: [
      'controllers.yaml:12:7: spec.template.metadata.labels: selector does not match template labels (spec.selector must select the pods of spec.template)',
      'controllers.yaml:15:7: spec.template.spec.restartPolicy: must be "Always" for a Deployment (got "Never")',
      'controllers.yaml:26:5: spec.template.spec: missing required field "restartPolicy" (a Job\'s pods need "OnFailure" or "Never")',
    ],
  },
  {
    name: 'Kubernetes checks the schema cannot express',
    files: ['kube-checks.yaml'],
    want: [
      'kube-checks.yaml:4:3: metadata.name: invalid name "Bad_Name": must be a lowercase RFC 1123 subdomain: lower case letters, digits, \'-\' and \'.\', starting and ending with a letter or digit, at most 253 characters',
      'kube-checks.yaml:10:7: spec.volumes[1].name: duplicate volume name "data" (first declared at spec.volumes[0])',
      'kube-checks.yaml:16:7: spec.containers[0].name: duplicate container name "web" (first declared at spec.initContainers[0])',
      'kube-checks.yaml:19:11: spec.containers[0].ports[0].containerPort: must be between 1 and 65535 (got 70000)',
      'kube-checks.yaml:20:11: spec.containers[0].ports[0].hostPort: must be between 0 and 65535 (got -1)',
      'kube-checks.yaml:21:11: spec.containers[0].ports[0].protocol: must be one of "TCP", "UDP", "SCTP" (got "tcp")',
      'kube-checks.yaml:24:11: spec.containers[0].ports[1].name: duplicate port name "http" (first declared at spec.containers[0].ports[0])',
      'kube-checks.yaml:26:11: spec.containers[0].env[0].name: must not be empty',
      'kube-checks.yaml:29:11: spec.containers[0].volumeMounts[0].name: volume "cache" is not declared in the pod\'s volumes',
      'kube-checks.yaml:33:11: warning: spec.containers[0].livenessProbe.httpGet.port: port "metrics" is not a named port of this container: the probe will fail',
      'kube-checks.yaml:34:7: spec.containers[1]: missing required field "image"',
      'kube-checks.yaml:34:7: spec.containers[1].name: invalid container name "Sidecar": must be a lowercase RFC 1123 label: lower case letters, digits and \'-\', starting and ending with a letter or digit, at most 63 characters',
    ],
  },
  {
    name: 'unknown kinds and apiVersions, missing kind',
    files: ['unknown-kind.yaml'],
    want: [
      'unknown-kind.yaml:2:1: kind: unsupported kind "StatefulSet"; supported kinds: Pod (v1), Deployment (apps/v1), DaemonSet (apps/v1), Job (batch/v1), ConfigMap (v1), Secret (v1), PersistentVolumeClaim (v1), Service (v1), List (v1)',
      'unknown-kind.yaml:7:1: kind: unsupported kind "pod" (did you mean "Pod"?); supported kinds: Pod (v1), Deployment (apps/v1), DaemonSet (apps/v1), Job (batch/v1), ConfigMap (v1), Secret (v1), PersistentVolumeClaim (v1), Service (v1), List (v1)',
      'unknown-kind.yaml:11:1: apiVersion: unsupported apiVersion "extensions/v1beta1" for kind Deployment (expected "apps/v1")',
      'unknown-kind.yaml:28:1: missing required field "apiVersion"',
      'unknown-kind.yaml:28:1: missing required field "kind"',
    ],
  },
  {
    name: 'duplicate keys are errors and the rest of the document is still validated',
    files: ['duplicate-key.yaml'],
    want: [
      'duplicate-key.yaml:5:3: metadata.name: duplicate key "name"',
      'duplicate-key.yaml:10:7: spec.containers[0].image: duplicate key "image"',
      'duplicate-key.yaml:11:7: spec.containers[0].comand: unknown field (did you mean "command"?)',
    ],
  },
  {
    name: 'YAML 1.1 anchors and merge keys: positions of merged fields',
    files: ['anchors.yaml'],
    want: ['anchors.yaml:21:7: spec.containers[1].cmd: unknown field'],
  },
  {
    name: 'several files: sorted by file in the order given, then line and column',
    files: ['typo.yaml', 'multidoc.yaml', 'syntax.yaml'],
    want: [
      'typo.yaml:9:7: spec.containers[0].comand: unknown field (did you mean "command"?)',
      'multidoc.yaml:22:7: spec.containers[0].imagePullPolcy: unknown field (did you mean "imagePullPolicy"?)',
      'syntax.yaml:10:7: invalid yaml: flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  },
];

describe('validateDocs', () => {
  it.each(cases)('$name', ({ files, mode, want }) => {
    expect(check(files, mode)).toEqual(want);
  });
});

describe('validateDocs: single messages', () => {
  const pod = (containers: string, extra = '') =>
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n${extra}  containers:\n${containers}`;
  const one = (text: string, mode: 'strict' | 'warn' = 'strict') => {
    const { docs, errors } = parseManifests(text, 'p.yaml');
    return [...errors, ...validateDocs(docs, { mode })].map(formatDiagnostic);
  };
  const inline: Array<{ name: string; text: string; want: string[] }> = [
    {
      name: 'int32 out of range is reported once',
      text: pod('    - name: c\n      image: i\n      ports:\n        - containerPort: 3000000000\n'),
      want: ['p.yaml:10:11: spec.containers[0].ports[0].containerPort: must be <= 2147483647 (got integer 3000000000)'],
    },
    {
      name: 'number where a string is needed',
      text: pod('    - name: c\n      image: i\n      env:\n        - name: PORT\n          value: 8080\n'),
      want: ['p.yaml:11:11: spec.containers[0].env[0].value: expected string, got integer 8080'],
    },
    {
      name: 'string port must be a port name',
      text: pod('    - name: c\n      image: i\n      livenessProbe:\n        tcpSocket:\n          port: "8080"\n'),
      want: ['p.yaml:11:11: spec.containers[0].livenessProbe.tcpSocket.port: invalid port name "8080": must be a port number or the name of one of the container\'s ports'],
    },
    {
      name: 'case-insensitive suggestion',
      text: pod('    - name: c\n      image: i\n      IMAGEPULLPOLICY: Always\n'),
      want: ['p.yaml:9:7: spec.containers[0].IMAGEPULLPOLICY: unknown field (did you mean "imagePullPolicy"?)'],
    },
    {
      name: 'label keys that are not identifiers are quoted in the path',
      text: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    app.kubernetes.io/name: -bad-\n',
      want: ['p.yaml:6:5: metadata.labels["app.kubernetes.io/name"]: invalid label value "-bad-": must be at most 63 characters: letters, digits, \'-\', \'_\' and \'.\', starting and ending with a letter or digit (or empty)'],
    },
    {
      name: 'missing metadata.name, generateName not supported',
      text: 'apiVersion: v1\nkind: Pod\nmetadata:\n  generateName: web-\nspec:\n  containers:\n    - name: c\n      image: i\n',
      want: ['p.yaml:3:1: metadata: missing required field "name" (generateName is not supported)'],
    },
    {
      name: 'Service names are RFC 1035 labels',
      text: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: 1web\nspec:\n  ports:\n    - port: 80\n',
      want: ['p.yaml:4:3: metadata.name: invalid name "1web": must be a lowercase RFC 1035 label: lower case letters, digits and \'-\', starting with a letter and ending with a letter or digit, at most 63 characters'],
    },
    {
      name: 'Secret data must be base64',
      text: 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: hunter2\n',
      want: ['p.yaml:6:3: data.password: expected base64-encoded data, got string (a Secret\'s value, not shown) (use stringData for plain text)'],
    },
    {
      name: 'Job restartPolicy Always',
      text: 'apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  template:\n    spec:\n      restartPolicy: Always\n      containers:\n        - name: c\n          image: i\n',
      want: ['p.yaml:8:7: spec.template.spec.restartPolicy: must be "OnFailure" or "Never" for a Job (got "Always")'],
    },
    {
      name: 'Deployment without selector and template',
      text: 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: -1\n',
      want: [
        'p.yaml:5:1: spec: missing required field "selector"',
        'p.yaml:5:1: spec: missing required field "template"',
        'p.yaml:6:3: spec.replicas: must be greater than or equal to 0 (got -1)',
      ],
    },
    {
      name: 'resource requests above limits, negative quantities',
      text: pod('    - name: c\n      image: i\n      resources:\n        limits:\n          cpu: 500m\n          memory: -1\n        requests:\n          cpu: 1\n          memory: 1Gi\n'),
      want: [
        'p.yaml:12:11: spec.containers[0].resources.limits.memory: must be greater than or equal to 0 (got -1)',
        'p.yaml:14:11: spec.containers[0].resources.requests.cpu: must be less than or equal to the cpu limit (500m)',
      ],
    },
    {
      name: 'a Pod with no spec',
      text: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n',
      want: [],
    },
  ];
  it.each(inline)('$name', ({ text, want }) => {
    expect(one(text)).toEqual(want);
  });
});

describe('didYouMean', () => {
  const props = ['command', 'args', 'image', 'imagePullPolicy', 'name', 'ports', 'workingDir', 'tty'];
  const cases: Array<{ key: string; want: string | undefined }> = [
    { key: 'comand', want: 'command' },
    { key: 'commnad', want: 'command' },
    { key: 'workingdir', want: 'workingDir' },
    { key: 'imagepullpolicy', want: 'imagePullPolicy' },
    { key: 'port', want: 'ports' },
    { key: 'cmd', want: undefined },
    { key: 'xy', want: undefined },
    { key: 'entrypoint', want: undefined },
  ];
  it.each(cases)('$key -> $want', ({ key, want }) => {
    expect(didYouMean(key, props)).toBe(want);
  });

  it('editDistance counts a transposition as one edit', () => {
    expect(editDistance('comamnd', 'command')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });
});

describe('parseQuantity', () => {
  const cases: Array<{ q: unknown; want: number | undefined }> = [
    { q: 1, want: 1 },
    { q: 0.5, want: 0.5 },
    { q: '500m', want: 0.5 },
    { q: '64Mi', want: 64 * 2 ** 20 },
    { q: '1Gi', want: 2 ** 30 },
    { q: '2k', want: 2000 },
    { q: '1e3', want: 1000 },
    { q: '.5', want: 0.5 },
    { q: '-1', want: -1 },
    { q: '64MB', want: undefined },
    { q: 'lots', want: undefined },
    { q: true, want: undefined },
  ];
  it.each(cases)('$q -> $want', ({ q, want }) => {
    expect(parseQuantity(q)).toBe(want);
  });
});
