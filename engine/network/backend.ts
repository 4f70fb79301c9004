// The network backend interface: netavark (rootful bridge) and pasta (rootless) implement it.

export type Protocol = 'tcp' | 'udp' | 'sctp';

/** One published port: hostIP:hostPort on the host forwards to containerPort in the pod. */
export interface PortMapping {
  hostIP: string;           // '' = every address
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

/**
 * A bridge network, as stored under <root>/networks/<name>.json (Podman's network fields where they exist).
 * Rootless, the one network is pasta's (driver 'pasta'): nothing stored, no subnet of its own.
 */
export interface NetworkConfig {
  name: string;
  id: string;               // 64 hex
  driver: 'bridge' | 'pasta';
  networkInterface: string; // bridge device, e.g. peapod0
  subnet: string;           // e.g. 10.90.0.0/24
  gateway: string;
  dnsEnabled: boolean;
  internal: boolean;
  created: string;
  labels?: Record<string, string>;
}

/** What a backend needs to connect one pod's network namespace. */
export interface PodNetworkRequest {
  podId: string;
  podName: string;
  netnsPath: string;
  network: NetworkConfig;
  ip: string;
  aliases: string[];        // names other pods resolve to this pod (DNS)
  ports: PortMapping[];
}

/** The pod's side of the connection, as the backend reports it. */
export interface PodNetworkStatus {
  network: string;
  interface: string;
  ip: string;
  prefixLength: number;
  gateway: string;
  mac?: string;
  dnsServers: string[];
  dnsSearch: string[];
}

export interface NetworkBackend {
  readonly name: string;
  /** Connects the namespace; on failure nothing stays configured. */
  setup(req: PodNetworkRequest): Promise<PodNetworkStatus>;
  /** Undoes setup (interfaces, firewall rules, DNS entries); idempotent. */
  teardown(req: PodNetworkRequest): Promise<void>;
}
