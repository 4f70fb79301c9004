import { describe, it, expect } from 'vitest';
import { parseManifests } from '../../../src/kube/parse.js';
import { planKube, podNamesOf } from '../../../src/kube/plan.js';
import { formatDiagnostic } from '../../../src/kube/diagnostics.js';

const plan = (yaml: string) => planKube(parseManifests(yaml, 'p.yaml').docs);

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
  annotations: {note: hi}
spec:
  hostname: host1
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 5
  restartPolicy: Never
  containers:
    - name: srv
      image: localhost/bb:latest
      command: ["httpd"]
      args: ["-f", "-p", "8080"]
      workingDir: /www
      env:
        - {name: A, value: "1"}
        - {name: EMPTY}
      ports:
        - {containerPort: 8080, hostPort: 18080, name: http}
`;

describe('planKube', () => {
  it('maps a Pod to a pod spec and member containers named <pod>-<ctr>', () => {
    const p = plan(POD);
    expect(p.diagnostics).toEqual([]);
    expect(p.pods).toHaveLength(1);
    const [pp] = p.pods;
    expect(pp.pod).toEqual({
      name: 'web', hostname: 'host1', labels: { app: 'web' }, annotations: { note: 'hi' }, shareProcessNamespace: true,
      restartPolicy: 'Never', terminationGracePeriodSeconds: 5, kube: { kind: 'Pod', name: 'web', file: 'p.yaml', object: expect.objectContaining({ kind: 'Pod' }) },
      publish: [{ hostIP: '', hostPort: 18080, containerPort: 8080, protocol: 'tcp' }],
    });
    expect(pp.containers).toEqual([{
      name: 'web-srv', kubeName: 'srv', image: 'localhost/bb:latest', kube: { command: ['httpd'], args: ['-f', '-p', '8080'] },
      env: ['A=1', 'EMPTY='], workingDir: '/www', restartPolicy: 'Never', stopTimeout: 5,
      ports: [{ containerPort: 8080, hostPort: 18080, hostIP: undefined, protocol: 'TCP', name: 'http' }],
    }]);
  });

  it('defaults restartPolicy to Always and the grace period to 30 s, as Kubernetes does', () => {
    const p = plan('apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: c, image: i}]\n');
    expect(p.pods[0].pod).toMatchObject({ restartPolicy: 'Always', terminationGracePeriodSeconds: 30 });
  });

  it('gives a Deployment its replicas as pods <name>-pod-<i>', () => {
    const p = plan(`apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 3
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers: [{name: c, image: i}]
`);
    expect(p.pods.map((x) => x.pod.name)).toEqual(['app-pod-0', 'app-pod-1', 'app-pod-2']);
    expect(p.pods[2].containers[0].name).toBe('app-pod-2-c');
    expect(p.pods[0].pod.labels).toEqual({ app: 'x' });
    expect(podNamesOf(parseManifests('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\n', 'f').docs)).toEqual([{ kind: 'Deployment', name: 'app' }]);
  });

  it('warns, with the position, about valid fields that are not implemented yet', () => {
    const p = plan(`apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  nodeSelector: {disk: ssd}
  containers:
    - name: c
      image: i
      resources: {limits: {memory: 64Mi}}
`);
    expect(p.diagnostics.map(formatDiagnostic)).toEqual([
      'p.yaml:5:3: warning: spec.nodeSelector: not supported by peapod yet: ignored',
      'p.yaml:9:7: warning: spec.containers[0].resources: not supported by peapod yet: ignored',
    ]);
  });

  it('refuses kinds it cannot play yet, and the same pod twice', () => {
    const p = plan('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n');
    const msgs = p.diagnostics.map((d) => d.message);
    expect(msgs[0]).toMatch(/kind ConfigMap is not supported by play kube yet/);
    expect(msgs[1]).toMatch(/pod "a" is defined twice/);
    expect(p.diagnostics.every((d) => d.severity === 'error')).toBe(true);
  });
});

describe('planKube networking', () => {
  const withPorts = (ports: string, extra = '') => `apiVersion: v1
kind: Pod
metadata: {name: np}
spec:
${extra}  containers:
    - name: c
      image: i
      ports: ${ports}
`;
  it('publishes hostPorts, and containerPorts only with --publish-all', () => {
    expect(plan(withPorts('[{containerPort: 80, hostPort: 8080}, {containerPort: 53, protocol: UDP}]')).pods[0].pod.publish)
      .toEqual([{ hostIP: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
    const all = planKube(parseManifests(withPorts('[{containerPort: 80, hostPort: 8080}, {containerPort: 53, protocol: UDP}]'), 'p.yaml').docs, { publishAll: true });
    expect(all.pods[0].pod.publish).toEqual([
      { hostIP: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostIP: '', hostPort: 53, containerPort: 53, protocol: 'udp' },
    ]);
  });
  it('--publish overrides the hostPort of a containerPort', () => {
    const p = planKube(parseManifests(withPorts('[{containerPort: 80, hostPort: 8080}]'), 'p.yaml').docs, { publish: ['9090:80'] });
    expect(p.pods[0].pod.publish).toEqual([{ hostIP: '', hostPort: 9090, containerPort: 80, protocol: 'tcp' }]);
  });
  it('hostNetwork publishes nothing; --network sets the network', () => {
    const hn = plan(withPorts('[{containerPort: 80, hostPort: 80}]', '  hostNetwork: true\n')).pods[0].pod;
    expect(hn.hostNetwork).toBe(true);
    expect(hn.publish).toBeUndefined();
    const p = planKube(parseManifests(withPorts('[{containerPort: 80}]'), 'p.yaml').docs, { network: 'backend' });
    expect(p.pods[0].pod.network).toBe('backend');
  });
  it('refuses Deployment replicas that would share a hostPort, and says why', () => {
    const p = plan(`apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: 2
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: i, ports: [{containerPort: 80, hostPort: 8080}]}]
`);
    expect(p.diagnostics.map((d) => d.message)).toEqual(['Deployment d: 2 replicas cannot all publish host port 8080/tcp on one host: use --publish to map the port, or replicas: 1']);
  });
});
