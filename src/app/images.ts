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
