import { describe, it, expect } from 'vitest';
import { cgroupResources } from '../../../engine/runtime/spec.js';
import { buildOciSpec } from '../../../engine/runtime/spec.js';

describe('Kubernetes resources as OCI cgroup resources', () => {
  it.each([
    { name: 'memory limit', r: { memoryLimit: 64 * 1024 ** 2 }, out: { memoryLimit: 67108864 } },
    { name: 'request below the limit is a reservation', r: { memoryLimit: 128e6, memoryRequest: 64e6 }, out: { memoryLimit: 128e6, memoryReservation: 64e6 } },
    { name: 'cpu 500m: quota 50000 per 100000', r: { cpuLimit: 0.5, cpuRequest: 0.25 }, out: { cpuPeriod: 100000, cpuQuota: 50000, cpuShares: 256 } },
    { name: 'tiny cpu request keeps the kernel minimum of 2 shares', r: { cpuRequest: 0.001 }, out: { cpuShares: 2 } },
  ])('$name', ({ r, out }) => expect(cgroupResources(r)).toEqual(out));

  it('lands in linux.resources of the spec, the same for cgroup v1 and v2 (the runtime maps it)', () => {
    const spec = buildOciSpec({
      rootfs: '/r', args: ['true'], env: [], cwd: '/', user: { uid: 0, gid: 0 }, namespaces: [{ type: 'mount' }], cgroupsPath: '/peapod/x',
      resources: cgroupResources({ memoryLimit: 67108864, cpuLimit: 0.5, cpuRequest: 0.5 }),
    });
    expect(spec.linux.resources).toMatchObject({ memory: { limit: 67108864 }, cpu: { quota: 50000, period: 100000, shares: 512 } });
  });
});
