// Where a container's volumeMounts come from: the pod's prepared volumes (podvolumes.ts), a subPath
// resolved inside its volume and staged from a held fd. The one place a volumeMount becomes a host path.
import { PeapodError } from '../errors.js';
import type { ContainerRecord, Mount } from '../types.js';
import { stageSubPath } from './subpath.js';

/** The bind mounts of a container's volumeMounts, from its pod's volumes. */
export async function volumeMountSources(rec: ContainerRecord, pod: { podName?: string; volumes?: Record<string, string>; readOnlyVolumes?: string[] } | undefined, subPathDir: string, bind: (fdPath: string, target: string) => Promise<void>): Promise<Mount[]> {
  const mounts: Mount[] = [];
  for (const [i, m] of (rec.spec.volumeMounts ?? []).entries()) {
    const base = pod?.volumes?.[m.name];
    if (!base) throw new PeapodError('invalid', `container ${rec.name}: volumeMount "${m.name}" names no volume of its pod`);
    // A subPath is resolved inside its volume and mounted from what was resolved (subpath.ts).
    const source = m.subPath
      ? await stageSubPath(base, m.subPath, subPathDir, i, { pod: pod?.podName, container: rec.spec.kubeName ?? rec.name, volume: m.name }, bind)
      : base;
    const ro = m.readOnly || pod?.readOnlyVolumes?.includes(m.name);
    mounts.push({ destination: m.mountPath, type: 'bind', source, options: ['rbind', ro ? 'ro' : 'rw'] });
  }
  return mounts;
}
