// Images out of the store and image trust, as the CLI's save, push, image sign and image trust
// commands use them. The engine modules (tar-stream, the registry client, openpgp) load only here.
import type { PushOptions, PushResult } from '../../engine/image/registry/push.js';
import type { SaveFormat } from '../../engine/image/save.js';
import type { TrustRow, TrustSetOptions } from '../../engine/image/trust/manage.js';
import type { Opener } from './engine.js';

/** `save`: every image, then one archive (docker-archive for several). */
export async function saveImages(open: Opener, refs: string[], output: string | undefined, format: SaveFormat): Promise<void> {
  const engine = await open();
  const sources = [];
  for (const r of refs) sources.push(await engine.images.exportSource(r));
  const { saveArchive } = await import('../../engine/image/save.js');
  await saveArchive(sources, output, format);
}

/** `push IMAGE [DESTINATION]`. */
export async function pushImage(open: Opener, ref: string, destination: string | undefined, opts: PushOptions): Promise<PushResult> {
  const src = await (await open()).images.exportSource(ref);
  const { pushImage: push } = await import('../../engine/image/registry/push.js');
  return push(src, destination, opts);
}

/** `image sign`: each image as the registry has it now. */
export async function signImages(refs: string[], opts: Parameters<typeof import('../../engine/image/registry/push.js').signImage>[1]): Promise<string[]> {
  const { signImage } = await import('../../engine/image/registry/push.js');
  const out: string[] = [];
  for (const r of refs) out.push(await signImage(r, opts));
  return out;
}

export async function showTrust(policyPath?: string): Promise<TrustRow[]> {
  return (await import('../../engine/image/trust/manage.js')).showTrust(policyPath);
}

export async function rawTrustPolicy(policyPath?: string): Promise<string> {
  return (await import('../../engine/image/trust/manage.js')).rawPolicy(policyPath);
}

export async function setTrust(scope: string, opts: TrustSetOptions): Promise<string> {
  return (await import('../../engine/image/trust/manage.js')).setTrust(scope, opts);
}

/** A reference a pull is asked for, checked before anything starts: Docker's rules (a short name is docker.io's) for the Docker API, Podman's otherwise. */
export async function checkedPullReference(ref: string, o: { docker?: boolean } = {}): Promise<string> {
  const { normalizeImageName, parseReference } = await import('../../engine/image/reference.js');
  if (!o.docker) {
    parseReference(ref);
    return ref;
  }
  return normalizeImageName(ref, { defaultDomain: 'docker.io' });
}

export type { PullProgress } from '../../engine/image/registry/pull.js';

/** `pull` for a front end that reports progress itself; whether the image was new or changed under that name. */
export async function pullWithProgress(open: Opener, ref: string, o: { policy?: 'always' | 'missing' | 'never' | 'newer'; tlsVerify?: boolean; progress: (e: import('../../engine/image/registry/pull.js').PullProgress) => void }): Promise<{ image: import('../../engine/types.js').ImageRecord; updated: boolean }> {
  const engine = await open();
  const before = await engine.images.get(ref).catch(() => undefined);
  const image = await engine.images.pull(ref, { policy: o.policy ?? 'always', tlsVerify: o.tlsVerify, progress: o.progress, interactive: false });
  return { image, updated: before?.id !== image.id };
}

/** `load`: the names the archive brought (an image already known under them keeps its ID), or its ID when it brought none. */
export async function loadImages(open: Opener, file: string): Promise<string[]> {
  const engine = await open();
  const before = new Set((await engine.images.list()).flatMap((i) => i.names.map((n) => `${i.id} ${n}`)));
  const loaded = await engine.images.load(file);
  return loaded.flatMap((i) => {
    const added = i.names.filter((n) => !before.has(`${i.id} ${n}`));
    return added.length ? added : [i.names[0] ?? `sha256:${i.id}`];
  });
}

/** The largest archive a front end accepts as an upload (the layer size limit, PEAPOD_MAX_LAYER_SIZE). */
export async function maxUploadSize(): Promise<number> {
  const { decompressionLimits } = await import('../../engine/image/util.js');
  return decompressionLimits().maxSize;
}
