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

  it('refuses fields it does not implement, and notes those that cannot apply on one host, with positions', () => {
    const p = plan(`apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  nodeSelector: {disk: ssd}
  containers:
    - name: c
      image: i
      volumeDevices: [{name: d, devicePath: /dev/xvda}]
`);
    expect(p.diagnostics.map(formatDiagnostic)).toEqual([
      'p.yaml:9:7: spec.containers[0].volumeDevices: not supported by peapod yet',
      'p.yaml:5:3: warning: spec.nodeSelector: does not apply on one host: ignored',
    ]);
  });

  it('refuses kinds it cannot play, and the same pod twice', () => {
    const p = plan('apiVersion: v1\nkind: ReplicaSet\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n');
    const msgs = p.diagnostics.map((d) => d.message);
    expect(msgs[0]).toMatch(/kind ReplicaSet is not supported by play kube/);
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

describe('planKube: env, volumes, init containers', () => {
  const docs = (y: string) => parseManifests(y, 'p.yaml').docs;
  it('builds env as the kubelet does: envFrom first, explicit env wins, $(VAR) expanded, $$ escaped, secrets by reference', () => {
    const p = planKube(docs(`apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {A: from-cm, B: b}
---
apiVersion: v1
kind: Pod
metadata: {name: e, labels: {app: x}}
spec:
  containers:
    - name: c
      image: i
      command: ["echo", "$(A)", "$$(A)", "$(UNDEFINED)"]
      envFrom: [{configMapRef: {name: cfg}}, {secretRef: {name: s}, prefix: S_}]
      env:
        - {name: A, value: explicit}
        - {name: C, value: "$(A)-$(B)"}
        - {name: P, valueFrom: {secretKeyRef: {name: s, key: k}}}
        - {name: PODNAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: L, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
        - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: M, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
`), { node: { name: 'n1', hostIP: '192.0.2.2', cpus: 2, memoryBytes: 2 * 1024 ** 3 } });
    expect(p.diagnostics).toEqual([]);
    const c = p.pods[0].containers[0];
    expect(c.env).toEqual(['B=b', 'A=explicit', 'C=explicit-b', 'PODNAME=e', 'L=x', 'M=2048']);
    expect(c.kube?.command).toEqual(['echo', 'explicit', '$(A)', '$(UNDEFINED)']);
    expect(c.secretEnv).toEqual([{ name: '', secret: 's', prefix: 'S_', optional: false }, { name: 'P', secret: 's', key: 'k', optional: false }]);
    expect(c.podIPEnv).toEqual(['IP']);
    expect(p.externalSecrets).toEqual([{ name: 's', optional: false }]);
  });

  it('maps volumes and keeps init containers first, in order, sidecars marked', () => {
    const p = plan(`apiVersion: v1
kind: Pod
metadata: {name: v}
spec:
  volumes:
    - {name: e, emptyDir: {medium: Memory, sizeLimit: 1Mi}}
    - {name: h, hostPath: {path: /srv, type: DirectoryOrCreate}}
    - {name: c, persistentVolumeClaim: {claimName: data, readOnly: true}}
  initContainers:
    - {name: one, image: i, command: ["true"]}
    - {name: side, image: i, restartPolicy: Always, command: ["sleep", "9"]}
  containers:
    - name: app
      image: i
      volumeMounts: [{name: e, mountPath: /e, subPathExpr: "$(POD)/x"}]
      env: [{name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
`);
    expect(p.diagnostics).toEqual([]);
    expect(p.pods[0].pod.volumes).toEqual([
      { name: 'e', type: 'emptyDir', medium: 'Memory', sizeLimit: 1048576 },
      { name: 'h', type: 'hostPath', path: '/srv', hostPathType: 'DirectoryOrCreate' },
      { name: 'c', type: 'persistentVolumeClaim', claimName: 'data', readOnly: true },
    ]);
    expect(p.claims).toEqual(['data']);
    expect(p.pods[0].containers.map((c) => [c.kubeName, c.init])).toEqual([['one', 'init'], ['side', 'sidecar'], ['app', undefined]]);
    expect(p.pods[0].containers[2].volumeMounts).toEqual([{ name: 'e', mountPath: '/e', readOnly: undefined, subPath: 'v/x' }]);
  });

  it('applies documents in dependency order; a NodePort Service publishes no host port on the pod (the Service rules do), its nodePorts are kept for rootless', () => {
    const p = plan(`apiVersion: v1
kind: Service
metadata: {name: svc}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http, nodePort: 30080}]
---
apiVersion: v1
kind: Pod
metadata: {name: w, labels: {app: web}}
spec:
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]
`);
    expect(p.diagnostics).toEqual([]);
    expect(p.pods[0].pod.publish).toBeUndefined();
    expect(p.pods[0].nodePorts).toEqual([{ hostIP: '', hostPort: 30080, containerPort: 8080, protocol: 'tcp' }]);
    expect(p.services[0].spec.ports).toEqual([{ protocol: 'tcp', port: 80, targetPort: 'http', nodePort: 30080 }]);
  });
});

describe('pull policy', () => {
  it.each([
    { image: 'docker.io/library/nginx:1.25', given: undefined, out: 'missing' },
    { image: 'docker.io/library/nginx', given: undefined, out: 'always' },
    { image: 'quay.io/org/app:latest', given: undefined, out: 'always' },
    { image: 'quay.io/org/app@sha256:' + 'a'.repeat(64), given: undefined, out: 'missing' },
    { image: 'nginx:1.25', given: 'Always', out: 'always' },
    { image: 'nginx:latest', given: 'Never', out: 'never' },
    { image: 'nginx:latest', given: 'IfNotPresent', out: 'missing' },
    { image: 'localhost/busybox:latest', given: undefined, out: 'missing' },
    { image: 'localhost/busybox:latest', given: 'Always', out: 'missing' },
  ])('$image $given -> $out', async ({ image, given, out }) => {
    const { pullPolicyOf } = await import('../../../src/kube/apply.js');
    expect(pullPolicyOf(image, given)).toBe(out);
  });
});
