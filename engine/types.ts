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
  digest: string;             // manifest digest, "sha256:..."
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
