// The process argv of a container from its image's ENTRYPOINT/CMD and the user's overrides.
// Two rule sets: Docker/Podman `run` (resolveArgs) and Kubernetes command/args (resolveKubeArgs).
import { invalid } from '../errors.js';

export interface ImageCommand {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
}

/** An ENTRYPOINT of exactly [""] means "no entrypoint" (Docker's way to reset it); so does null/[]. */
function entrypointOf(ep: string[] | null | undefined): string[] {
  if (!ep || (ep.length === 1 && ep[0] === '')) return [];
  return ep;
}

function noCommand(): Error {
  return invalid('no command specified', 'the image has neither ENTRYPOINT nor CMD: give a command');
}

/**
 * `podman run` / `docker run` semantics (Podman's makeCommand, pkg/specgen/generate/oci.go):
 * - entrypoint override (any value, also [] or [""] = none) replaces the image ENTRYPOINT and clears
 *   the image CMD, unless cmd is given too;
 * - cmd replaces the image CMD (an empty cmd keeps the image CMD, as `run IMAGE` with no command does);
 * - argv = entrypoint ++ cmd; empty -> error "no command specified".
 */
export function resolveArgs(image: ImageCommand, override: { entrypoint?: string[]; cmd?: string[] }): string[] {
  const entrypoint = override.entrypoint !== undefined ? entrypointOf(override.entrypoint) : entrypointOf(image.Entrypoint);
  let cmd: string[];
  if (override.cmd && override.cmd.length > 0) cmd = override.cmd;
  else if (override.entrypoint !== undefined) cmd = [];
  else cmd = image.Cmd ?? [];
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw noCommand();
  return argv;
}

/**
 * Kubernetes semantics ("Define a Command and Arguments for a Container"; the kubelet and containerd):
 * - neither command nor args: image ENTRYPOINT ++ image CMD;
 * - command only: command; image ENTRYPOINT and CMD are ignored;
 * - args only: image ENTRYPOINT ++ args;
 * - both: command ++ args.
 * An empty list counts as not set (as it does after the kubelet's protobuf round trip).
 * $(VAR) expansion is the caller's business.
 */
export function resolveKubeArgs(image: ImageCommand, kube: { command?: string[]; args?: string[] } = {}): string[] {
  const command = kube.command && kube.command.length > 0 ? kube.command : undefined;
  const args = kube.args && kube.args.length > 0 ? kube.args : undefined;
  let argv: string[];
  if (command) argv = [...command, ...(args ?? [])];
  else argv = [...entrypointOf(image.Entrypoint), ...(args ?? image.Cmd ?? [])];
  if (argv.length === 0) throw noCommand();
  return argv;
}
