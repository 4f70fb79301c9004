// Where a container's volumeMounts come from: the pod's prepared volumes (podvolumes.ts), a subPath
// resolved inside its volume. The one place a volumeMount becomes a host path.
import { promises as fs, existsSync } from 'node:fs';
import { PeapodError } from '../errors.js';
import type { ContainerRecord, Mount } from '../types.js';
import { resolveInRoot } from '../runtime/user.js';

/** The bind mounts of a container's volumeMounts, from its pod's volumes. */
export async function volumeMountSources(rec: ContainerRecord, pod: { volumes?: Record<string, string>; readOnlyVolumes?: string[] } | undefined): Promise<Mount[]> {
  const mounts: Mount[] = [];
  for (const m of rec.spec.volumeMounts ?? []) {
    const base = pod?.volumes?.[m.name];
    if (!base) throw new PeapodError('invalid', `container ${rec.name}: volumeMount "${m.name}" names no volume of its pod`);
    let source = base;
    if (m.subPath) {
      // Resolved inside the volume as if it were "/": a symlink in the volume never leads out of it.
      source = await resolveInRoot(base, m.subPath);
      if (!existsSync(source)) await fs.mkdir(source, { recursive: true, mode: 0o755 });
    }
    const ro = m.readOnly || pod?.readOnlyVolumes?.includes(m.name);
    mounts.push({ destination: m.mountPath, type: 'bind', source, options: ['rbind', ro ? 'ro' : 'rw'] });
  }
  return mounts;
}
