// securityContext and resources of a Kubernetes container, as the kubelet applies them.
import type { SecuritySpec } from '../../engine/types.js';
import { parseQuantity } from './validate.js';
import type { PlanProblem } from './plan-env.js';

type Obj = Record<string, any>;

/** Sysctls that are namespaced (safe per pod) — the kubelet's list; others are refused. */
const NAMESPACED_SYSCTL = [/^kernel\.shm(all|max|mni)$/, /^kernel\.shm_rmid_forced$/, /^kernel\.msg(max|mnb|mni)$/, /^kernel\.sem$/, /^fs\.mqueue\./, /^net\./];

/** The container's security settings: pod-level ones under the container's own. */
export function planSecurity(pod: Obj, c: Obj, base: Array<string | number>, podBase: Array<string | number>, hostNetwork: boolean): { security?: SecuritySpec; problems: PlanProblem[] } {
  const problems: PlanProblem[] = [];
  const p: Obj = pod.securityContext ?? {};
  const s: Obj = c.securityContext ?? {};
  const pick = <T>(k: string): T | undefined => (s[k] !== undefined ? s[k] : p[k]);
  const out: SecuritySpec = {
    runAsUser: pick('runAsUser'),
    runAsGroup: pick('runAsGroup'),
    runAsNonRoot: pick('runAsNonRoot'),
    supplementalGroups: p.supplementalGroups,
    supplementalGroupsPolicy: p.supplementalGroupsPolicy,
    fsGroup: p.fsGroup,
    readOnlyRootFilesystem: s.readOnlyRootFilesystem,
    privileged: s.privileged,
    allowPrivilegeEscalation: s.allowPrivilegeEscalation,
    capAdd: s.capabilities?.add,
    capDrop: s.capabilities?.drop,
    procMount: s.procMount,
    seLinuxOptions: pick('seLinuxOptions'),
  };
  const seccomp: Obj | undefined = pick('seccompProfile');
  if (seccomp) out.seccomp = { type: seccomp.type, localhostProfile: seccomp.localhostProfile };
  if (s.privileged && s.allowPrivilegeEscalation === false) {
    problems.push({ path: [...base, 'securityContext', 'allowPrivilegeEscalation'], message: 'cannot be false together with privileged: true', severity: 'error' });
  }
  if (s.procMount && s.procMount !== 'Default' && s.procMount !== 'Unmasked') {
    problems.push({ path: [...base, 'securityContext', 'procMount'], message: `must be "Default" or "Unmasked" (got ${JSON.stringify(s.procMount)})`, severity: 'error' });
  }
  if (seccomp?.type === 'Localhost' && !seccomp.localhostProfile) {
    problems.push({ path: [...(s.seccompProfile ? base : podBase), 'securityContext', 'seccompProfile'], message: 'type Localhost needs localhostProfile', severity: 'error' });
  }
  if (Array.isArray(p.sysctls)) {
    out.sysctls = {};
    p.sysctls.forEach((x: Obj, i: number) => {
      if (!NAMESPACED_SYSCTL.some((re) => re.test(x.name))) {
        problems.push({ path: [...podBase, 'securityContext', 'sysctls', i, 'name'], message: `sysctl "${x.name}" is not namespaced: it would change the whole host, so a pod cannot set it`, severity: 'error' });
      } else if (hostNetwork && x.name.startsWith('net.')) {
        problems.push({ path: [...podBase, 'securityContext', 'sysctls', i, 'name'], message: `sysctl "${x.name}" cannot be set in a hostNetwork pod: the network namespace is the host's`, severity: 'error' });
      } else {
        out.sysctls![x.name] = String(x.value);
      }
    });
  }
  for (const k of Object.keys(out) as Array<keyof SecuritySpec>) if (out[k] === undefined) delete out[k];
  return { security: Object.keys(out).length ? out : undefined, problems };
}

/** limits and requests: memory in bytes, cpu in cores (a request defaults to the limit, as in Kubernetes). */
export function planResources(c: Obj): { memoryLimit?: number; memoryRequest?: number; cpuLimit?: number; cpuRequest?: number } | undefined {
  const r: Obj = c.resources ?? {};
  const q = (v: unknown) => (v === undefined ? undefined : parseQuantity(v));
  const out = {
    memoryLimit: q(r.limits?.memory),
    memoryRequest: q(r.requests?.memory ?? r.limits?.memory),
    cpuLimit: q(r.limits?.cpu),
    cpuRequest: q(r.requests?.cpu ?? r.limits?.cpu),
  };
  for (const k of Object.keys(out) as Array<keyof typeof out>) if (out[k] === undefined) delete out[k];
  return Object.keys(out).length ? out : undefined;
}
