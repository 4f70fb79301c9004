import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';
import type { ContainerSpec } from '../types.js';
import { mergeCapabilities, DEFAULT_CAPABILITIES } from './spec.js';

// Seccomp profiles in the "containers" format (Docker's, and containers-common's
// /usr/share/containers/seccomp.json that Podman uses as RuntimeDefault) turned into the OCI
// runtime spec's linux.seccomp for this host's architecture and the container's capabilities.

type Obj = Record<string, any>;

export const RUNTIME_DEFAULT_PROFILE = '/usr/share/containers/seccomp.json';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
const SCMP_ARCH: Record<string, string> = { amd64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', arm: 'SCMP_ARCH_ARM', '386': 'SCMP_ARCH_X86', ppc64le: 'SCMP_ARCH_PPC64LE', s390x: 'SCMP_ARCH_S390X' };

/** OCI linux.seccomp from a containers-format profile (or an OCI-format one, returned as it is). */
export function toOciSeccomp(profile: Obj, caps: string[], arch = ARCH[process.arch] ?? process.arch): Obj {
  if (!Array.isArray(profile.syscalls) || profile.architectures) return profile; // already OCI
  const scmp = SCMP_ARCH[arch];
  const map = (profile.archMap ?? []).find((m: Obj) => m.architecture === scmp);
  const architectures = map ? [map.architecture, ...(map.subArchitectures ?? [])] : scmp ? [scmp] : [];
  const capSet = new Set(caps.map((c) => c.toUpperCase()));
  const applies = (cond: Obj | undefined, positive: boolean): boolean => {
    if (!cond || !Object.keys(cond).length) return positive;
    const archOk = !cond.arches?.length || cond.arches.includes(arch);
    const capsOk = !cond.caps?.length || cond.caps.every((c: string) => capSet.has(c.toUpperCase()));
    if (positive) return archOk && capsOk;
    // an exclude matches when any listed arch or capability applies
    return (cond.arches?.length && cond.arches.includes(arch)) || (cond.caps?.length && cond.caps.some((c: string) => capSet.has(c.toUpperCase())));
  };
  const syscalls = (profile.syscalls as Obj[])
    .filter((s) => applies(s.includes, true) && !applies(s.excludes, false))
    .map((s) => {
      const out: Obj = { names: s.names ?? (s.name ? [s.name] : []), action: s.action };
      if (s.errnoRet !== undefined) out.errnoRet = s.errnoRet;
      if (s.args?.length) out.args = s.args;
      return out;
    });
  const out: Obj = { defaultAction: profile.defaultAction, architectures, syscalls };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  return out;
}

/** Reads a profile file (JSON); errors name the file. */
export function readProfile(file: string, hint?: string): Obj {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new PeapodError('not-found', `seccomp profile ${file} not found`, { hint });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new PeapodError('invalid', `seccomp profile ${file}: ${(err as Error).message}`);
  }
}

let defaultProfile: Obj | undefined;

/** containers-common's default profile, read once per process. */
function runtimeDefault(): Obj {
  defaultProfile ??= readProfile(RUNTIME_DEFAULT_PROFILE, 'apt-get install golang-github-containers-common (scripts/setup.sh installs it)');
  return defaultProfile;
}

/**
 * linux.seccomp for a securityContext's seccompProfile. Every container gets containers-common's
 * default profile (RuntimeDefault), as under Podman, unless it says Unconfined or is privileged
 * (Podman's --privileged drops the filter too); Localhost loads <root>/seccomp/<localhostProfile>.
 * A missing default profile is an error: never a silently unconfined container.
 */
export function seccompFor(sec: NonNullable<ContainerSpec['security']>, root: string): unknown {
  const s = sec.seccomp ?? { type: 'RuntimeDefault' as const };
  if (s.type === 'Unconfined' || sec.privileged) return undefined;
  const caps = mergeCapabilities(DEFAULT_CAPABILITIES, sec.capAdd, sec.capDrop);
  if (s.type !== 'Localhost') return toOciSeccomp(runtimeDefault(), caps);
  const name = s.localhostProfile ?? '';
  if (!name || name.split('/').includes('..') || path.isAbsolute(name)) throw new PeapodError('invalid', `seccomp localhostProfile "${name}" must be a relative path without ".."`);
  return toOciSeccomp(readProfile(path.join(root, 'seccomp', name), `put the profile under ${path.join(root, 'seccomp')}`), caps);
}
