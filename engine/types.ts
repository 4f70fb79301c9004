// Shared engine types. A leaf: imports nothing internal.

/** OCI image configuration (the `config` object of an OCI/Docker image config blob). */
export interface ImageRuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  OnBuild?: string[];         // Docker's ONBUILD triggers (kept, never run: peapod does not build)
}

/** The whole OCI image config blob, as stored (architecture, os, rootfs, history, config). */
export interface ImageConfigBlob {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: ImageRuntimeConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean; author?: string }>;
}

/** One image in the store. The ID is the hex digest of its config blob, as in Podman. */
export interface ImageRecord {
  id: string;                 // 64 hex, no "sha256:"
  names: string[];            // fully qualified, e.g. "localhost/busybox:latest", "docker.io/library/alpine:3.19"
  namesHistory: string[];     // names this image had, newest first (Podman's NamesHistory)
  digest: string;             // manifest digest, "sha256:..." (the newest one this image was stored with)
  digests?: string[];         // every manifest digest this image was stored with, newest first (Podman's Digests)
  manifestType: string;       // "application/vnd.oci.image.manifest.v1+json" or docker v2s2
  repoDigests: string[];      // "<repo>@<digest>" for each name's repository
  created: string;            // RFC 3339, from the config (or the time of import)
  size: number;               // sum of unpacked layer sizes in bytes
  layers: string[];           // diff IDs, bottom first, "sha256:..."
  config: ImageConfigBlob;
  annotations?: Record<string, string>;
}

export type ContainerStatus = 'created' | 'running' | 'stopped' | 'exited' | 'removing';

export interface Mount {
  destination: string;
  type: string;           // "bind", "tmpfs", "proc", ...
  source: string;
  options: string[];
}

/** What a user asked for when creating a container (CLI flags or a Kubernetes container). */
export interface ContainerSpec {
  name: string;
  image: string;                       // as given
  entrypoint?: string[];               // override of the image ENTRYPOINT (Docker semantics) ...
  cmd?: string[];                      // ... and of its CMD
  /** Kubernetes semantics instead: command replaces ENTRYPOINT (and drops CMD), args replaces CMD. */
  kube?: { command?: string[]; args?: string[] };
  env?: string[];                      // K=V set by the user (image env is merged under these)
  workingDir?: string;
  user?: string;
  hostname?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  volumes?: Array<{ source: string; destination: string; readOnly?: boolean }>;
  autoRemove?: boolean;
  stopSignal?: string;
  stopTimeout?: number;                // seconds
  pod?: string;                        // pod id
  isInfra?: boolean;
  /** kubernetes container name inside its pod (for generate kube) */
  kubeName?: string;
  ports?: Array<{ containerPort: number; hostPort?: number; hostIP?: string; protocol?: string; name?: string }>;
  restartPolicy?: string;
  /** Podman's --restart as given (no, always, on-failure[:N], unless-stopped): restartPolicy holds its meaning */
  restart?: string;
  /** Podman's --systemd=always: container_uuid in the environment */
  systemd?: 'always';
  /** mounts of the pod's volumes (PodSpec.volumes) into this container */
  volumeMounts?: VolumeMount[];
  /** env whose values come from secrets: resolved when the container starts, never stored in the record */
  secretEnv?: SecretEnvRef[];
  /** env names that get the pod's address when the container starts (fieldRef status.podIP) */
  podIPEnv?: string[];
  /** Kubernetes securityContext (pod-level merged under the container's) */
  security?: SecuritySpec;
  /** cgroup limits: memory in bytes, cpu in cores */
  resources?: { memoryLimit?: number; memoryRequest?: number; cpuLimit?: number; cpuRequest?: number; pidsLimit?: number };
  /** Kubernetes lifecycle hooks: run by peapod after start and before the stop signal */
  lifecycle?: { postStart?: LifecycleHandler; preStop?: LifecycleHandler };
  /** imagePullPolicy of the YAML (Always, IfNotPresent, Never) */
  pullPolicy?: string;
  /** imagePullSecrets of its pod: kubernetes.io/dockerconfigjson secrets to pull with */
  pullSecrets?: string[];
  /** at most this many restarts by the restart policy (a Job's backoffLimit) */
  restartLimit?: number;
  /** an init container runs to completion before the app containers; a sidecar (init with restartPolicy Always) keeps running */
  init?: 'init' | 'sidecar';
  /** Kubernetes probes, run by the pod's monitor process */
  probes?: { startup?: Probe; liveness?: Probe; readiness?: Probe };
}

/** One Kubernetes probe: a handler and its timing (seconds), defaults filled in by the planner. */
export interface Probe {
  handler: ProbeHandler;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
  /** grace period when a failed liveness/startup probe kills the container (else the pod's) */
  terminationGracePeriodSeconds?: number;
}

/** A probe's handler; a string port names one of the container's ports (resolved when it runs). */
export type ProbeHandler =
  | { exec: string[] }
  | { httpGet: { path?: string; port: number | string; host?: string; scheme?: string; headers?: Array<{ name: string; value: string }> } }
  | { tcpSocket: { port: number | string; host?: string } }
  | { grpc: { port: number; service?: string } };

export type LifecycleHandler =
  | { exec: string[] }
  | { httpGet: { path?: string; port: number; host?: string; scheme?: string } }
  | { sleep: number };

export interface SecuritySpec {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  supplementalGroups?: number[];
  /** Kubernetes' supplementalGroupsPolicy: Merge (default: the image's /etc/group groups of the user too) or Strict */
  supplementalGroupsPolicy?: 'Merge' | 'Strict';
  fsGroup?: number;
  readOnlyRootFilesystem?: boolean;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  sysctls?: Record<string, string>;
  seccomp?: { type: 'RuntimeDefault' | 'Unconfined' | 'Localhost'; localhostProfile?: string };
  procMount?: string;
  seLinuxOptions?: Record<string, string>;
}

export interface VolumeMount {
  name: string;          // a PodSpec.volumes entry
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;      // already expanded from subPathExpr
}

export interface SecretEnvRef {
  name: string;          // env var name
  secret: string;        // engine secret name
  key?: string;          // one key; absent with envFrom (all keys, with prefix)
  prefix?: string;
  optional?: boolean;
}

/** One file of a configMap, secret or downwardAPI volume. */
export interface VolumeFile {
  path: string;          // relative
  mode?: number;
  content?: string;      // base64 (configMap, downwardAPI)
  secretKey?: string;    // read from the volume's secret at start (secret)
  fieldPath?: string;    // resolved at start (downwardAPI status.podIP)
}

export type PodVolume =
  | { name: string; type: 'hostPath'; path: string; hostPathType?: string }
  | { name: string; type: 'emptyDir'; medium?: string; sizeLimit?: number }
  | { name: string; type: 'persistentVolumeClaim'; claimName: string; readOnly?: boolean }
  | { name: string; type: 'configMap' | 'secret' | 'downwardAPI'; source?: string; optional?: boolean; defaultMode?: number; files: VolumeFile[] };

export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  conmonPid: number;
  exitCode: number;
  oomKilled: boolean;
  startedAt?: string;
  finishedAt?: string;
  error?: string;
  restartCount: number;
  /** the run root's boot marker when the container was started; a different one means a reboot */
  bootId?: string;
  /** set by stop/kill of a user: the restart policy does not bring the container back */
  stopRequested?: boolean;
  /** back-off level of the restart policy (0 after 10 minutes of running) */
  backoffLevel?: number;
  /** the pod's address while the container runs (lifecycle httpGet handlers use it) */
  podIP?: string;
  /** the cgroup path the running container was given (removed again at cleanup) */
  cgroupPath?: string;
  /** pid of a foreground `run --rm` that will remove the container itself after reading its exit */
  waiterPid?: number;
  /** readiness of this run (the readiness probe's verdict; without one: running and started) */
  ready?: boolean;
  /** the startup probe succeeded in this run */
  started?: boolean;
  /** the last failing probe's message, while it fails (or what killed the container) */
  probeMessage?: string;
  /** set while peapod ends a run because a probe failed: "Liveness probe failed: ..." */
  killReason?: string;
  /** how the previous run ended (Kubernetes' lastState.terminated): reason Completed, Error, OOMKilled or a probe's */
  lastTermination?: { reason: string; exitCode: number; finishedAt: string; message?: string };
  /**
   * file (one per launch) that stop() creates before it signals the container: conmon's exit
   * command finds it and leaves the cleanup to stop() instead of starting the CLI
   */
  stopMarker?: string;
}

export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  imageId: string;
  imageName: string;                   // resolved full name, e.g. localhost/busybox:latest
  spec: ContainerSpec;
  args: string[];                      // resolved process argv
  runtime: string;
  createCommand?: string[];
  state: ContainerState;
}

export type PodStatus = 'Created' | 'Running' | 'Degraded' | 'Stopped' | 'Exited' | 'Error';

/** What a user asked for when creating a pod (`pod create` flags or a Kubernetes pod). */
export interface PodSpec {
  name: string;
  hostname?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  shareProcessNamespace?: boolean;
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  /** share the host's network namespace (and host name) instead of a pod network */
  hostNetwork?: boolean;
  /** network to join: a bridge network's name, or 'none'; default: the default bridge `peapod` */
  network?: string;
  /** static addresses on that network (annotation peapod.io/ip, play kube --ip, pod create --ip): one per family */
  ips?: string[];
  /** ports published on the host (from hostPort, --publish, pod create -p) */
  publish?: Array<{ hostIP: string; hostPort: number; containerPort: number; protocol: 'tcp' | 'udp' | 'sctp' }>;
  hostAliases?: Array<{ ip: string; hostnames: string[] }>;
  dnsPolicy?: string;
  dnsConfig?: { nameservers?: string[]; searches?: string[]; options?: Array<{ name: string; value?: string }> };
  volumes?: PodVolume[];
  /** securityContext.fsGroup: the group that owns the pod's volumes (setgid directories) */
  fsGroup?: number;
  /**
   * Namespaces the members share with the infra (Podman's --share): a subset of ipc, net, uts, pid,
   * cgroup. Absent: ipc, net and uts (and pid with shareProcessNamespace).
   */
  share?: string[];
  /** Podman's --exit-policy: 'stop' stops the infra when the last member has ended for good (play kube's pods) */
  exitPolicy?: 'continue' | 'stop';
  /** Podman's --userns: 'keep-id' (rootless only) gives the pod a user namespace where the user's uid is itself */
  userns?: 'keep-id';
  /** pod-level resources (spec.resources): limits on the pod's cgroup, shared by all its containers */
  resources?: ContainerSpec['resources'];
  /** enableServiceLinks: false: no Service variables in the containers' environment */
  enableServiceLinks?: boolean;
  /** with a headless Service of that name: HOSTNAME.SUBDOMAIN.NS.svc.cluster.local names this pod */
  subdomain?: string;
  /**
   * Where the pod came from, for `kube down`, `generate kube` and `generate systemd --new`:
   * the kind and name of the Kubernetes object, the file, and the object itself (plain JSON).
   */
  kube?: { kind: string; name: string; file?: string; object?: unknown };
}

export interface PodRecord {
  id: string;
  name: string;
  created: string;
  spec: PodSpec;
  infraId: string;
  /** persistent network namespace file (bind mount of nsfs) */
  netnsPath: string;
  cgroupParent: string;
  /** a Job's pod waiting for a slot (parallelism): started when an earlier pod of its Job finishes */
  deferred?: boolean;
}

/** A secret's record: values base64, file mode 0600 under a 0700 directory; never printed. */
export interface SecretRecord {
  name: string;
  id: string;
  created: string;
  type?: string;
  data: Record<string, string>;
  labels?: Record<string, string>;
}

/** A named volume (Podman's local driver): a directory under <root>/volumes/<name>/_data. */
export interface VolumeRecord {
  name: string;
  created: string;
  labels?: Record<string, string>;
  /** made by play kube from a PersistentVolumeClaim (kept by kube down unless --force) */
  claim?: boolean;
}
