// Pure: the Kubernetes YAML both engines play. The same file goes to peapod and to podman.
//
// Every container runs /bin/sleep 3600 (absolute: an imported image has no PATH in Podman), and
// every pod sets terminationGracePeriodSeconds: 0 so that kube down measures the engine, not a
// grace period that a PID 1 without a SIGTERM handler (sleep) would sit out.

export const IMAGE = 'localhost/busybox:latest';
export const GRACE_SECONDS = 0;

function containers(n: number, indent = '  '): string {
  let out = '';
  for (let i = 1; i <= n; i++) {
    out += `${indent}- name: c${i}\n${indent}  image: ${IMAGE}\n${indent}  command: ["/bin/sleep", "3600"]\n`;
  }
  return out;
}

/** One v1 Pod with `n` containers c1..cn. */
export function podYaml(name: string, n: number): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  terminationGracePeriodSeconds: ${GRACE_SECONDS}
  containers:
${containers(n)}`;
}

/** `pods` Pod documents (names prefix0..), each with `perPod` containers, in one multi-document file. */
export function podsYaml(prefix: string, pods: number, perPod: number): string {
  return Array.from({ length: pods }, (_, i) => podYaml(`${prefix}${i}`, perPod)).join('---\n');
}

/** An apps/v1 Deployment with `replicas` replicas of a one-container pod. */
export function deploymentYaml(name: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      terminationGracePeriodSeconds: ${GRACE_SECONDS}
      containers:
${containers(1, '      ')}`;
}
