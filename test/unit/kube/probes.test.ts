import { describe, it, expect } from 'vitest';
import { parseManifests } from '../../../src/kube/parse.js';
import { planKube } from '../../../src/kube/plan.js';
import { formatDiagnostic } from '../../../src/kube/diagnostics.js';

const plan = (yaml: string) => planKube(parseManifests(yaml, 'p.yaml').docs);
const pod = (container: string, extra = '') => `apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
${extra}  containers:
    - name: c
      image: i
      ports: [{name: http, containerPort: 8080}]
${container}`;

describe('probes', () => {
  it('are planned with the API server defaults, a named port kept as written', () => {
    const p = plan(pod(`      livenessProbe: {httpGet: {port: http, path: /healthz, httpHeaders: [{name: X-A, value: b}]}}
      readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2, successThreshold: 2}
      startupProbe: {exec: {command: [test, -e, /up]}, failureThreshold: 30, periodSeconds: 1, terminationGracePeriodSeconds: 5}
`));
    expect(p.diagnostics).toEqual([]);
    const c = p.pods[0].containers[0];
    expect(c.probes).toEqual({
      liveness: { handler: { httpGet: { port: 'http', path: '/healthz', headers: [{ name: 'X-A', value: 'b' }] } }, initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
      readiness: { handler: { tcpSocket: { port: 8080 } }, initialDelaySeconds: 0, periodSeconds: 2, timeoutSeconds: 1, successThreshold: 2, failureThreshold: 3 },
      startup: { handler: { exec: ['test', '-e', '/up'] }, initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 30, terminationGracePeriodSeconds: 5 },
    });
  });

  it('grpc probes keep their service', () => {
    const p = plan(pod('      livenessProbe: {grpc: {port: 9000, service: app}}\n'));
    expect(p.pods[0].containers[0].probes?.liveness?.handler).toEqual({ grpc: { port: 9000, service: 'app' } });
  });

  it('are refused as the API server refuses them, with positions', () => {
    const p = plan(pod(`      livenessProbe: {exec: {command: ["true"]}, tcpSocket: {port: 1}}
      readinessProbe: {periodSeconds: 3, terminationGracePeriodSeconds: 3}
      startupProbe: {exec: {command: ["true"]}, successThreshold: 2, periodSeconds: -1}
`));
    expect(p.diagnostics.map((d) => `${d.line}: ${d.path}: ${d.message}`).sort()).toEqual([
      '10: spec.containers[0].readinessProbe: needs a handler: one of exec, httpGet, tcpSocket, grpc',
      '11: spec.containers[0].startupProbe.periodSeconds: must be greater than or equal to 1 (got -1)',
      '11: spec.containers[0].startupProbe.successThreshold: must be 1 for a startup probe (got 2)',
      '9: spec.containers[0].livenessProbe.tcpSocket: a probe has one handler: exec and tcpSocket are both set',
    ]);
    expect(p.diagnostics.every((d) => d.severity === 'error' && d.file === 'p.yaml' && d.col > 0)).toBe(true);
  });

  it('an init container cannot have probes; a sidecar can', () => {
    const p = plan(`apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  initContainers:
    - {name: init, image: i, readinessProbe: {exec: {command: ["true"]}}}
    - {name: side, image: i, restartPolicy: Always, readinessProbe: {exec: {command: ["true"]}}}
  containers: [{name: c, image: i}]
`);
    expect(p.diagnostics.map(formatDiagnostic)).toEqual([
      expect.stringMatching(/^p\.yaml:6:\d+: spec\.initContainers\[0\]\.readinessProbe: an init container cannot have probes/),
    ]);
  });

  it('a readiness probe may not set terminationGracePeriodSeconds', () => {
    const p = plan(pod('      readinessProbe: {exec: {command: ["true"]}, terminationGracePeriodSeconds: 3}\n'));
    expect(p.diagnostics.map((d) => `${d.path}: ${d.message}`)).toEqual([
      'spec.containers[0].readinessProbe.terminationGracePeriodSeconds: must not be set for a readiness probe (it never kills the container)',
    ]);
  });
});

describe('pod-level resources', () => {
  it('spec.resources becomes the pod\'s limits (requests default to limits)', () => {
    const p = plan(pod('', '  resources: {limits: {memory: 64Mi, cpu: 500m}}\n'));
    expect(p.diagnostics).toEqual([]);
    expect(p.pods[0].pod.resources).toEqual({ memoryLimit: 67108864, memoryRequest: 67108864, cpuLimit: 0.5, cpuRequest: 0.5 });
  });
});

describe('Job parallelism', () => {
  const job = (spec: string) => plan(`apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
${spec}  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: i}]
`);
  it('pods beyond parallelism wait their turn (Kubernetes\' default parallelism is 1)', () => {
    expect(job('  completions: 3\n').pods.map((p) => [p.pod.name, !!p.deferred])).toEqual([['j-pod-0', false], ['j-pod-1', true], ['j-pod-2', true]]);
    expect(job('  completions: 3\n  parallelism: 2\n').pods.map((p) => !!p.deferred)).toEqual([false, false, true]);
    expect(job('  completions: 2\n  parallelism: 5\n').pods.map((p) => !!p.deferred)).toEqual([false, false]);
    expect(job('  completions: 3\n  parallelism: 2\n').diagnostics).toEqual([]);
  });
});
