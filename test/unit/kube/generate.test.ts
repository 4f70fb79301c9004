import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContainerRecord, ContainerSpec, ImageRuntimeConfig, PodRecord, PodSpec } from '../../../engine/types.js';
import { resolveArgs, resolveKubeArgs } from '../../../engine/runtime/command.js';
import {
  generateKube, toYaml, kubeCommandFor, kubeContainerName, dns1123Label, dns1123Subdomain, hostPathVolumeName,
  foldPublished, escapeExpansion, quantity, cpuQuantity, signalName, type GenerateKubeOptions, type KubeSources,
} from '../../../src/kube/generate.js';
import { parseManifests } from '../../../src/kube/parse.js';
import { validateDocs } from '../../../src/kube/validate.js';
import { planKube } from '../../../src/kube/plan.js';
import { expand } from '../../../src/kube/plan-env.js';

// Image configs as the tests' busybox images have them.
const IMAGES: Record<string, ImageRuntimeConfig> = {
  bb: { Env: ['PATH=/bin'], Cmd: ['sh'] },
  entry: { Env: ['PATH=/bin'], Entrypoint: ['/bin/sh', '-c'], Cmd: ['sleep 1000'], WorkingDir: '/srv' },
  none: { Env: ['PATH=/bin'] },
};
const IMAGE_NAMES: Record<string, string> = { 'localhost/busybox:latest': 'bb', 'localhost/bb-entry:latest': 'entry' };

let seq = 0;
function ctr(name: string, spec: Partial<ContainerSpec> & { imageId?: string } = {}): ContainerRecord {
  const imageId = spec.imageId ?? 'bb';
  const image = IMAGES[imageId];
  const s: ContainerSpec = { name, image: spec.image ?? 'localhost/busybox:latest', ...spec };
  const args = s.kube ? resolveKubeArgs(image, s.kube) : resolveArgs(image, { entrypoint: s.entrypoint, cmd: s.cmd });
  seq++;
  return {
    id: `${String(seq).padStart(4, '0')}${'c'.repeat(60)}`, name, created: `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000Z`,
    imageId, imageName: s.image, spec: s, args, runtime: 'runc', state: { status: 'running', pid: 1, conmonPid: 1, exitCode: 0, oomKilled: false, restartCount: 0 },
  };
}

function pod(name: string, spec: Partial<PodSpec> = {}): PodRecord {
  return { id: `${name}-id`, name, created: '2026-01-01T00:00:00Z', spec: { name, ...spec }, infraId: 'infra', netnsPath: '', cgroupParent: '' };
}

const sources = (pods: Array<[PodRecord, ContainerRecord[]]>, containers: ContainerRecord[] = []): KubeSources =>
  ({ pods: pods.map(([p, members]) => ({ pod: p, members })), containers, image: (id) => IMAGES[id] });

const gen = (src: KubeSources, opts: GenerateKubeOptions = {}) => generateKube(src, opts);

/** What validation says about generated YAML (strict, as play kube applies it). */
function diagnostics(text: string) {
  const parsed = parseManifests(text, 'generated.yaml');
  return [...parsed.errors, ...validateDocs(parsed.docs, { mode: 'strict' })];
}

describe('kubeCommandFor: command/args only where they differ from the image', () => {
  const table: Array<{ what: string; image: string; hint: { command?: string[]; args?: string[] }; want: { command?: string[]; args?: string[] } }> = [
    { what: 'neither (image CMD)', image: 'bb', hint: {}, want: {} },
    { what: 'command only, image without ENTRYPOINT', image: 'bb', hint: { command: ['sleep', '1000'] }, want: { command: ['sleep', '1000'] } },
    { what: 'args only, image without ENTRYPOINT', image: 'bb', hint: { args: ['sleep', '1000'] }, want: { args: ['sleep', '1000'] } },
    { what: 'args equal to the image CMD', image: 'bb', hint: { args: ['sh'] }, want: {} },
    { what: 'neither (ENTRYPOINT + CMD)', image: 'entry', hint: {}, want: {} },
    { what: 'args only with ENTRYPOINT', image: 'entry', hint: { args: ['echo hi'] }, want: { args: ['echo hi'] } },
    { what: 'command equal to the ENTRYPOINT is dropped', image: 'entry', hint: { command: ['/bin/sh', '-c'], args: ['echo hi'] }, want: { args: ['echo hi'] } },
    { what: 'command and args equal to the image', image: 'entry', hint: { command: ['/bin/sh', '-c'], args: ['sleep 1000'] }, want: {} },
    { what: 'command only replaces ENTRYPOINT and CMD', image: 'entry', hint: { command: ['sleep', '5'] }, want: { command: ['sleep', '5'] } },
    { what: 'command and args', image: 'entry', hint: { command: ['sh', '-c'], args: ['echo hi'] }, want: { command: ['sh', '-c'], args: ['echo hi'] } },
    { what: 'empty lists count as unset', image: 'entry', hint: { command: [], args: [] }, want: {} },
    { what: 'image without ENTRYPOINT nor CMD', image: 'none', hint: { command: ['sleep', '1'] }, want: { command: ['sleep', '1'] } },
  ];
  for (const t of table) {
    it(t.what, () => {
      const image = IMAGES[t.image];
      const argv = resolveKubeArgs(image, t.hint);
      const got = kubeCommandFor(argv, image, t.hint);
      expect(got).toEqual(t.want);
      expect(resolveKubeArgs(image, got)).toEqual(argv);
    });
  }

  // Containers made by `run` (Docker semantics) must replay with the same process under Kubernetes semantics.
  const runTable: Array<{ what: string; image: string; entrypoint?: string[]; cmd?: string[]; want: { command?: string[]; args?: string[] } }> = [
    { what: 'run IMAGE', image: 'entry', want: {} },
    { what: 'run IMAGE CMD', image: 'entry', cmd: ['echo hi'], want: { args: ['echo hi'] } },
    { what: 'run --entrypoint E IMAGE', image: 'entry', entrypoint: ['sleep'], want: { command: ['sleep'] } },
    { what: 'run --entrypoint E IMAGE CMD', image: 'entry', entrypoint: ['sleep'], cmd: ['3'], want: { command: ['sleep'], args: ['3'] } },
    { what: "run --entrypoint '' IMAGE CMD", image: 'entry', entrypoint: [], cmd: ['sleep', '3'], want: { command: ['sleep', '3'] } },
    { what: 'run bb CMD', image: 'bb', cmd: ['sleep', '3'], want: { args: ['sleep', '3'] } },
  ];
  for (const t of runTable) {
    it(t.what, () => {
      const c = ctr('x', { imageId: t.image, entrypoint: t.entrypoint, cmd: t.cmd });
      const r = gen(sources([], [c]));
      const container = ((r.objects[0].spec as any).containers[0]);
      const got = { ...(container.command ? { command: container.command } : {}), ...(container.args ? { args: container.args } : {}) };
      expect(got).toEqual(t.want);
      expect(resolveKubeArgs(IMAGES[t.image], got)).toEqual(c.args);
    });
  }

  it('writes the process out in full when the image is gone', () => {
    expect(kubeCommandFor(['a', 'b'], undefined)).toEqual({ command: ['a', 'b'] });
    expect(kubeCommandFor(['a', 'b'], undefined, { args: ['b'] })).toEqual({ args: ['b'] });
  });
});

describe('names', () => {
  it.each([
    ['web', 'web'], ['Other_Ctr', 'other-ctr'], ['--a..b--', 'a-b'], ['x'.repeat(70), 'x'.repeat(63)], ['a_-_b', 'a-b'],
  ])('dns1123Label(%j) = %j', (input, want) => expect(dns1123Label(input)).toBe(want));

  it.each([['My_Pod', 'my-pod'], ['a.B_c', 'a.b-c'], ['.x.', 'x']])('dns1123Subdomain(%j) = %j', (input, want) => expect(dns1123Subdomain(input)).toBe(want));

  it('container names: as written in the YAML, else without the pod prefix', () => {
    expect(kubeContainerName(ctr('web-srv', { kubeName: 'srv' }), 'web')).toBe('srv');
    expect(kubeContainerName(ctr('hand-web'), 'hand')).toBe('web');
    expect(kubeContainerName(ctr('Other_Ctr'), 'hand')).toBe('other-ctr');
    expect(kubeContainerName(ctr('hand-'), 'hand')).toBe('hand');
  });

  it.each([['/srv/www', 'srv-www-host'], ['/', 'root-host'], ['/A_b/', 'a-b-host']])('hostPath volume name of %j', (p, want) => expect(hostPathVolumeName(p)).toBe(want));

  it.each([['usr1', 'SIGUSR1'], ['SIGTERM', 'SIGTERM'], ['9', 'SIGKILL'], ['SIGRTMIN+3', undefined], ['99', undefined]])('signalName(%j)', (sig, want) => expect(signalName(sig)).toBe(want));
  it.each([[67108864, '64Mi'], [2 ** 30, '1Gi'], [1000, '1000'], [1536, '1536'], [3 * 2 ** 10, '3Ki']])('quantity(%j) = %j', (n, want) => expect(quantity(n)).toBe(want));
  it.each([[0.5, '500m'], [2, '2'], [0.1, '100m'], [1.25, '1250m']])('cpuQuantity(%j) = %j', (n, want) => expect(cpuQuantity(n)).toBe(want));
  it.each([['$(A)', '$$(A)'], ['$HOME', '$HOME'], ['cost: 5$', 'cost: 5$']])('escapeExpansion(%j) = %j', (a, want) => expect(escapeExpansion(a)).toBe(want));
  it.each(['$(A)', '$$', '$$(A)', 'a$$$(b)', '$', '$(', '$$$', 'x$(A)y$$z$', '$(UNDEFINED)'])('$(VAR) expansion gives %j back from its escaped form', (text) => {
    const vars = (n: string) => (n === 'A' ? 'value-of-a' : undefined);
    expect(expand(escapeExpansion(text), vars)).toBe(text);
  });
});

describe('generateKube', () => {
  it('a played pod: the user fields only, defaults and noise left out, keys in order', () => {
    const p = pod('web', {
      hostname: 'web', labels: { app: 'web' }, restartPolicy: 'Always', terminationGracePeriodSeconds: 30,
      annotations: { note: 'hi', 'io.peapod.internal': 'x', 'io.kubernetes.cri-o.SandboxID/web': 'y' },
      publish: [{ hostIP: '', hostPort: 18080, containerPort: 8080, protocol: 'tcp' }],
    });
    const srv = ctr('web-srv', {
      kubeName: 'srv', kube: { command: ['httpd'], args: ['-f', '-p', '8080'] }, env: ['A=1', 'EMPTY='], workingDir: '/www',
      ports: [{ containerPort: 8080, hostPort: 18080, protocol: 'TCP', name: 'http' }, { containerPort: 53, protocol: 'UDP' }],
      restartPolicy: 'Always', stopTimeout: 30,
    });
    const r = gen(sources([[p, [srv]]]));
    expect(r.warnings).toEqual([]);
    expect(r.objects).toEqual([{
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'web', labels: { app: 'web' }, annotations: { note: 'hi' } },
      spec: {
        containers: [{
          name: 'srv', image: 'localhost/busybox:latest', command: ['httpd'], args: ['-f', '-p', '8080'],
          env: [{ name: 'A', value: '1' }, { name: 'EMPTY' }], workingDir: '/www',
          ports: [{ containerPort: 8080, hostPort: 18080, name: 'http' }, { containerPort: 53, protocol: 'UDP' }],
        }],
      },
    }]);
    const text = toYaml(r.objects);
    expect(text).toBe(`apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
  annotations:
    note: hi
spec:
  containers:
    - name: srv
      image: localhost/busybox:latest
      command:
        - httpd
      args:
        - -f
        - -p
        - "8080"
      env:
        - name: A
          value: "1"
        - name: EMPTY
      workingDir: /www
      ports:
        - containerPort: 8080
          hostPort: 18080
          name: http
        - containerPort: 53
          protocol: UDP
`);
    expect(diagnostics(text)).toEqual([]);
  });

  it('pod settings that differ from the defaults', () => {
    const p = pod('p', {
      hostname: 'other', shareProcessNamespace: true, restartPolicy: 'Never', terminationGracePeriodSeconds: 2, hostNetwork: true,
      dnsPolicy: 'None', dnsConfig: { nameservers: ['10.0.0.1'] }, hostAliases: [{ ip: '10.1.1.1', hostnames: ['a.example'] }],
    });
    const r = gen(sources([[p, [ctr('p-c', { kubeName: 'c', kube: {}, restartPolicy: 'Never' })]]]));
    expect(r.objects[0].spec).toEqual({
      hostname: 'other', hostNetwork: true, shareProcessNamespace: true, restartPolicy: 'Never', terminationGracePeriodSeconds: 2,
      dnsPolicy: 'None', dnsConfig: { nameservers: ['10.0.0.1'] }, hostAliases: [{ ip: '10.1.1.1', hostnames: ['a.example'] }],
      containers: [{ name: 'c', image: 'localhost/busybox:latest' }],
    });
    expect(diagnostics(toYaml(r.objects))).toEqual([]);
  });

  it('containers in the order of the YAML the pod came from, not of creation', () => {
    const p = pod('o', { kube: { kind: 'Pod', name: 'o', object: { kind: 'Pod', spec: { containers: [{ name: 'b' }, { name: 'a' }] } } } });
    const a = ctr('o-a', { kubeName: 'a', kube: {} });
    const b = ctr('o-b', { kubeName: 'b', kube: {} });
    const names = (gen(sources([[p, [a, b]]])).objects[0].spec as any).containers.map((c: any) => c.name);
    expect(names).toEqual(['b', 'a']);
  });

  it('a pod made by hand: names without the pod prefix made valid, Never, the stop timeout, published ports on containers', () => {
    const p = pod('hand', { labels: { team: 'x', 'bad key!': 'v' }, publish: [{ hostIP: '127.0.0.1', hostPort: 18081, containerPort: 81, protocol: 'tcp' }] });
    const web = ctr('hand-web', { cmd: ['sleep', '1000'], env: ['A=1'], workingDir: '/tmp', user: '1000:1000', volumes: [{ source: '/srv/data', destination: '/data', readOnly: true }] });
    const other = ctr('Other_Ctr', { entrypoint: ['sleep'], cmd: ['999'], stopSignal: 'USR1', stopTimeout: 15, labels: { a: 'b' } });
    const r = gen(sources([[p, [web, other]]]));
    expect(r.objects).toEqual([{
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'hand', labels: { team: 'x' } },
      spec: {
        restartPolicy: 'Never', terminationGracePeriodSeconds: 15,
        containers: [
          {
            name: 'web', image: 'localhost/busybox:latest', args: ['sleep', '1000'], env: [{ name: 'A', value: '1' }], workingDir: '/tmp',
            ports: [{ containerPort: 81, hostPort: 18081, hostIP: '127.0.0.1' }],
            volumeMounts: [{ name: 'srv-data-host', mountPath: '/data', readOnly: true }],
            securityContext: { runAsUser: 1000, runAsGroup: 1000 },
          },
          { name: 'other-ctr', image: 'localhost/busybox:latest', command: ['sleep'], args: ['999'], lifecycle: { stopSignal: 'SIGUSR1' } },
        ],
        volumes: [{ name: 'srv-data-host', hostPath: { path: '/srv/data' } }],
      },
    }]);
    expect(r.warnings).toEqual([
      'container Other_Ctr: written as "other-ctr" (Kubernetes container names are lower-case RFC 1123 labels)',
      'container Other_Ctr: container labels have no place in a Kubernetes pod: left out',
      'pod hand: label "bad key!=v" is not a valid Kubernetes label: left out',
    ]);
    expect(diagnostics(toYaml(r.objects))).toEqual([]);
  });

  it('a standalone container gives the pod <ctr>-pod, with its labels and host name', () => {
    const c = ctr('solo', { cmd: ['sleep', '5'], labels: { app: 'solo' }, hostname: 'box', user: 'app' });
    const r = gen(sources([], [c]));
    expect(r.objects).toEqual([{
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo-pod', labels: { app: 'solo' } },
      spec: { hostname: 'box', restartPolicy: 'Never', terminationGracePeriodSeconds: 10, containers: [{ name: 'solo', image: 'localhost/busybox:latest', args: ['sleep', '5'] }] },
    }]);
    expect(r.warnings).toEqual(['container solo: user "app" is not numeric: Kubernetes takes a UID (securityContext.runAsUser), left out']);
  });

  it('the replicas of a Deployment give the Deployment back once, replicas counted or given', () => {
    const object = { kind: 'Deployment' };
    const mk = (i: number) => pod(`web-pod-${i}`, { labels: { app: 'web' }, restartPolicy: 'Always', terminationGracePeriodSeconds: 2, kube: { kind: 'Deployment', name: 'web', object } });
    const members = (i: number) => [ctr(`web-pod-${i}-srv`, { kubeName: 'srv', kube: { args: ['sleep', '100'] }, restartPolicy: 'Always' })];
    const src = sources([[mk(1), members(1)], [mk(0), members(0)]]);
    const r = gen(src, { type: 'deployment' });
    expect(r.objects).toEqual([{
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
      spec: {
        replicas: 2, selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'srv', image: 'localhost/busybox:latest', args: ['sleep', '100'] }] },
        },
      },
    }]);
    expect((gen(src, { type: 'deployment', replicas: 3 }).objects[0].spec as any).replicas).toBe(3);
    // as pods: each replica is its own Pod
    expect(gen(src).objects.map((o) => (o.metadata as any).name)).toEqual(['web-pod-0', 'web-pod-1']);
    expect(diagnostics(toYaml(r.objects))).toEqual([]);
  });

  it.each<[GenerateKubeOptions['type'], string, string | undefined]>([
    ['deployment', 'apps/v1', undefined], ['daemonset', 'apps/v1', undefined], ['job', 'batch/v1', 'Never'],
  ])('--type %s of a pod without labels validates', (type, apiVersion, restartPolicy) => {
    const r = gen(sources([[pod('solo'), [ctr('solo-c', { cmd: ['true'] })]]]), { type });
    const o = r.objects[0] as any;
    expect(o.apiVersion).toBe(apiVersion);
    expect(o.spec.template.spec.restartPolicy).toBe(restartPolicy);
    if (type !== 'job') expect(o.spec.selector).toEqual({ matchLabels: { app: 'solo' } });
    expect(diagnostics(toYaml(r.objects))).toEqual([]);
  });

  it('a Job of a pod that restarts always restarts on failure', () => {
    const r = gen(sources([[pod('j', { restartPolicy: 'Always' }), [ctr('j-c', { cmd: ['true'] })]]]), { type: 'job' });
    expect((r.objects[0] as any).spec.template.spec.restartPolicy).toBe('OnFailure');
  });

  it('-s adds a NodePort Service for the published ports (the host port as node port when in range)', () => {
    const p = pod('svc', { labels: { app: 'svc' }, restartPolicy: 'Always', terminationGracePeriodSeconds: 30 });
    const c = ctr('svc-c', {
      kubeName: 'c', kube: {},
      ports: [{ containerPort: 80, hostPort: 30080, protocol: 'TCP' }, { containerPort: 53, hostPort: 5353, protocol: 'UDP' }, { containerPort: 9000, protocol: 'TCP' }],
    });
    const r = gen(sources([[p, [c]]]), { service: true });
    expect(r.objects[1]).toEqual({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', labels: { app: 'svc' } },
      spec: {
        selector: { app: 'svc' }, type: 'NodePort',
        ports: [{ name: '80', port: 80, targetPort: 80, nodePort: 30080 }, { name: '53-udp', protocol: 'UDP', port: 53, targetPort: 53 }],
      },
    });
    expect(diagnostics(toYaml(r.objects))).toEqual([]);
  });

  it('a played Service that selects the pods comes along, without its VIP; -s adds no second one', () => {
    const p = pod('web', { labels: { app: 'web' }, restartPolicy: 'Always', terminationGracePeriodSeconds: 30 });
    const c = ctr('web-c', { kubeName: 'c', kube: {}, ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }] });
    const src = { ...sources([[p, [c]]]), services: [{ name: 'web', namespace: 'default', type: 'ClusterIP' as const, selector: { app: 'web' }, affinitySeconds: 60, ports: [{ name: 'http', protocol: 'tcp' as const, port: 80, targetPort: 'http' }] }] };
    const r = gen(src, { service: true });
    expect(r.objects.map((o) => o.kind)).toEqual(['Service', 'Pod']);
    expect(r.objects[0]).toEqual({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } },
    });
    expect(diagnostics(toYaml(r.objects))).toEqual([]);
  });

  it('subdomain and enableServiceLinks: false are written back', () => {
    const p = pod('sd', { subdomain: 'web-headless', enableServiceLinks: false, restartPolicy: 'Always', terminationGracePeriodSeconds: 30 });
    const r = gen(sources([[p, [ctr('sd-c', { kubeName: 'c', kube: {} })]]]));
    expect(r.objects[0].spec).toMatchObject({ subdomain: 'web-headless', enableServiceLinks: false });
    expect(diagnostics(toYaml(r.objects))).toEqual([]);
  });

  it('-s: a pod without labels gets app=<name>; a pod without ports gets no Service', () => {
    const withPort = gen(sources([[pod('1abc'), [ctr('1abc-c', { cmd: ['x'], ports: [{ containerPort: 80 }] })]]]), { service: true });
    expect((withPort.objects[0].metadata as any).labels).toEqual({ app: '1abc' });
    expect((withPort.objects[1].metadata as any).name).toBe('svc-1abc');
    expect(diagnostics(toYaml(withPort.objects))).toEqual([]);
    const none = gen(sources([[pod('np'), [ctr('np-c', { cmd: ['x'] })]]]), { service: true });
    expect(none.objects).toHaveLength(1);
    expect(none.warnings).toContain('pod np: no ports: no Service generated');
  });

  it('with --include-secrets the output is the same today (peapod keeps no secret values in pods)', () => {
    const src = sources([[pod('s'), [ctr('s-c', { cmd: ['x'], env: ['TOKEN=abc'] })]]]);
    expect(toYaml(gen(src, { includeSecrets: true }).objects)).toBe(toYaml(gen(src).objects));
  });
});

describe('generateKube from play kube\'s records (volumes, secrets, controllers)', () => {
  const SECRET_POD = `apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2-value}
---
apiVersion: v1
kind: Pod
metadata: {name: sp}
spec:
  volumes:
    - name: c
      secret: {secretName: creds}
  containers:
    - name: app
      image: localhost/busybox:latest
      command: [sleep, "1"]
      env:
        - name: P
          valueFrom: {secretKeyRef: {name: creds, key: password}}
      volumeMounts:
        - {name: c, mountPath: /c}
`;

  it('no secret value without includeSecrets: references only, and a note', () => {
    const { src } = recordsOf(SECRET_POD, 's.yaml');
    const plain = gen(src);
    const text = toYaml(plain.objects);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain(Buffer.from('hunter2-value').toString('base64'));
    expect(text).toContain('secretKeyRef');
    expect(plain.warnings).toEqual(['secret creds: its values are not written (use --include-secrets): it must exist where the YAML is played']);
    const withSecrets = gen(src, { includeSecrets: true });
    expect(withSecrets.objects[0]).toEqual({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' }, data: { password: Buffer.from('hunter2-value').toString('base64') } });
    expect(withSecrets.warnings).toEqual([]);
    expect(diagnostics(toYaml(withSecrets.objects))).toEqual([]);
  });

  it('the replicas of a Deployment keep fieldRef env (each has its own name)', () => {
    const yaml = `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: 2
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers:
        - name: c
          image: localhost/busybox:latest
          command: [sleep, "1"]
          env:
            - name: ME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
            - name: FIXED
              value: x
`;
    const { src } = recordsOf(yaml, 'd.yaml');
    const container = (gen(src, { type: 'deployment' }).objects[0] as any).spec.template.spec.containers[0];
    expect(container.env).toEqual([{ name: 'ME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'FIXED', value: 'x' }]);
  });

  it('lifecycle hooks and the stop signal', () => {
    const yaml = `apiVersion: v1
kind: Pod
metadata: {name: lc}
spec:
  containers:
    - name: c
      image: localhost/busybox:latest
      command: [sleep, "1"]
      ports: [{containerPort: 8080, name: http}]
      lifecycle:
        postStart: {exec: {command: [touch, /tmp/started]}}
        preStop: {httpGet: {path: /quit, port: http}}
        stopSignal: SIGUSR2
    - name: d
      image: localhost/busybox:latest
      command: [sleep, "1"]
      lifecycle:
        preStop: {sleep: {seconds: 2}}
        stopSignal: SIGTERM
`;
    const r = gen(recordsOf(yaml, 'lc.yaml').src);
    const [c, d] = (r.objects[0] as any).spec.containers;
    expect(c.lifecycle).toEqual({ postStart: { exec: { command: ['touch', '/tmp/started'] } }, preStop: { httpGet: { path: '/quit', port: 8080 } }, stopSignal: 'SIGUSR2' });
    expect(d.lifecycle).toEqual({ preStop: { sleep: { seconds: 2 } } });
    expect(diagnostics(toYaml(r.objects))).toEqual([]);
  });

  it('PersistentVolumeClaims that pods use are written, as Podman writes them', () => {
    const yaml = `apiVersion: v1
kind: Pod
metadata: {name: pv}
spec:
  volumes:
    - name: data
      persistentVolumeClaim: {claimName: pv-data}
  containers:
    - name: c
      image: localhost/busybox:latest
      command: [sleep, "1"]
      volumeMounts: [{name: data, mountPath: /data}]
`;
    const r = gen(recordsOf(yaml, 'pv.yaml').src);
    expect(r.objects[0]).toEqual({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'pv-data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    expect((r.objects[1] as any).spec.volumes).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'pv-data' } }]);
    expect(diagnostics(toYaml(r.objects))).toEqual([]);
  });
});

describe('foldPublished', () => {
  it('sets the host port a mapping forwards to, keeps declared ports, adds undeclared ones to the first container', () => {
    const got = foldPublished([
      { ports: [{ containerPort: 80, hostPort: 8080, protocol: 'TCP' }, { containerPort: 53, protocol: 'UDP' }] },
      { ports: [{ containerPort: 9000 }] },
    ], [
      { hostIP: '', hostPort: 9090, containerPort: 80, protocol: 'tcp' }, // --publish override
      { hostIP: '', hostPort: 5353, containerPort: 53, protocol: 'udp' },
      { hostIP: '::1', hostPort: 7000, containerPort: 7, protocol: 'tcp' },
    ]);
    expect(got).toEqual([
      [{ containerPort: 80, hostPort: 9090, protocol: 'TCP' }, { containerPort: 53, hostPort: 5353, protocol: 'UDP' }, { containerPort: 7, hostPort: 7000, hostIP: '::1', protocol: 'TCP' }],
      [{ containerPort: 9000 }],
    ]);
  });
});

describe('toYaml', () => {
  it('quotes strings that YAML 1.1 (what play kube reads) would take for something else; no anchors', () => {
    const shared = { a: 'b' };
    const text = toYaml([{ x: ['on', 'yes', 'n', '0755', '1e3', '2024-01-01', 'null'], l1: shared, l2: shared }]);
    const back = parseManifests(text, 'x.yaml').docs[0].value;
    expect(back).toEqual({ x: ['on', 'yes', 'n', '0755', '1e3', '2024-01-01', 'null'], l1: shared, l2: shared });
    expect(text).not.toMatch(/[&*]a\d/);
  });

  it('long and multi-line strings stay one scalar', () => {
    const long = 'x '.repeat(100).trim();
    const text = toYaml([{ args: [long, 'line 1\nline 2\n'] }]);
    expect((parseManifests(text, 'x.yaml').docs[0].value as any).args).toEqual([long, 'line 1\nline 2\n']);
  });
});

// ---------------------------------------------------------------------------------------------
// The round trip without processes: YAML -> plan -> records -> generate -> plan -> generate.

const ROUNDTRIP_DIRS = ['../../fixtures/roundtrip', '../../../examples'].map((d) => fileURLToPath(new URL(d, import.meta.url)));

/** Records as the engine would make them from a plan (what apply does, minus processes). */
function recordsOf(yaml: string, file: string): { src: KubeSources; pods: PodRecord[] } {
  const plan = planKube(parseManifests(yaml, file).docs);
  expect(plan.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const pods: Array<[PodRecord, ContainerRecord[]]> = plan.pods.map((pp) => {
    const p = pod(pp.pod.name, pp.pod);
    const members = pp.containers.map((c) => ctr(c.name, { ...c, imageId: IMAGE_NAMES[c.image] ?? 'bb' }));
    return [p, members];
  });
  const secrets = new Map(plan.secrets.map((s) => [s.name, { name: s.name, id: s.name, created: '', type: s.type, data: s.data }]));
  return { src: { ...sources(pods), secret: (n) => secrets.get(n) }, pods: pods.map(([p]) => p) };
}

const TYPE_OF: Record<string, GenerateKubeOptions['type']> = { Pod: 'pod', Deployment: 'deployment', DaemonSet: 'daemonset', Job: 'job' };

/** generate kube for what a manifest defines, as the e2e test runs it: one command per kind. */
function generateAll(yaml: string, file: string): string {
  const docs = parseManifests(yaml, file).docs;
  const { src } = recordsOf(yaml, file);
  const out: string[] = [];
  for (const [kind, type] of Object.entries(TYPE_OF)) {
    const names = docs.filter((d) => d.kind === kind).map((d) => d.name!);
    if (!names.length) continue;
    const pick = { ...src, pods: src.pods.filter(({ pod: p }) => (kind === 'Pod' ? names.includes(p.name) : p.spec.kube?.kind === kind && names.includes(p.spec.kube.name))) };
    const r = gen(pick, { type, includeSecrets: true });
    expect(r.warnings).toEqual([]);
    out.push(toYaml(r.objects));
  }
  return out.join('---\n');
}

describe('round trip over examples/ and test/fixtures/roundtrip/ (pure: plan -> generate is a fixed point)', () => {
  const files = ROUNDTRIP_DIRS.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.yaml')).map((f) => path.join(d, f)));
  it('has manifests', () => expect(files.length).toBeGreaterThanOrEqual(7));
  for (const file of files) {
    it(path.basename(file), () => {
      const first = generateAll(readFileSync(file, 'utf8'), file);
      expect(diagnostics(first)).toEqual([]);
      const second = generateAll(first, 'generated.yaml');
      expect(second).toBe(first);
      // and the replayed plan makes the same processes
      const a = recordsOf(readFileSync(file, 'utf8'), file).src.pods;
      const b = recordsOf(first, 'generated.yaml').src.pods;
      const view = (x: typeof a) => x.map(({ pod: p, members }) => ({
        name: p.name, labels: p.spec.labels ?? {}, hostname: p.spec.hostname ?? p.name, pid: !!p.spec.shareProcessNamespace,
        members: members.map((m) => ({ name: m.spec.kubeName, args: m.args, env: m.spec.env ?? [], wd: m.spec.workingDir ?? IMAGES[m.imageId].WorkingDir ?? '/' })),
      }));
      expect(view(b)).toEqual(view(a));
    });
  }
});
