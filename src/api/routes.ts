// The endpoint table: which method and path each handler answers. Paths may carry a version prefix
// (/v4.3.1/libpod/..., /v1.41/...) or none, as Podman's service accepts. What is not in the table
// answers 501 naming the endpoint: never a silent wrong answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Opener } from '../app/engine.js';
import { ApiError, sendText } from './http.js';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** the {name} parts of the matched path */
  params: Record<string, string>;
  /** the engine of this request (opened on first use) */
  open: Opener;
  /** the raw connection when the client asked for an upgrade (attach, exec start) */
  hijack?: { socket: Socket; head: Buffer };
  /** marks a connection that carries a stream, so an idle stop lets it finish */
  busy: (s: Socket) => void;
  /**
   * Work that runs to its end even when the client goes away (a pull, a play, a load): the service
   * neither idles out nor stops before it ended. Returns the same promise.
   */
  hold: <T>(work: Promise<T>) => Promise<T>;
  /** the API version the client named in the path (e.g. "1.41", "4.3.1"), if any */
  version?: string;
}

export type Handler = (ctx: Ctx) => Promise<void>;
type Route = [method: string, pattern: string, handler: () => Promise<Handler>];

/** Both APIs' _ping: "OK" with the headers by which clients recognise (and negotiate with) the service. */
export const ping: Handler = async ({ req, res }) => {
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Pragma', 'no-cache');
  res.setHeader('Docker-Experimental', 'false');
  if (req.method === 'HEAD') { res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 2 }); res.end(); return; }
  sendText(res, 200, 'OK');
};

const libpod = (name: string) => async () => ((await import('./libpod.js')) as unknown as Record<string, Handler>)[name];
const docker = (name: string) => async () => ((await import('./docker.js')) as unknown as Record<string, Handler>)[name];

/** [method, path after the version prefix, handler]; `{x}` matches one path segment. */
const ROUTES: Route[] = [
  ['GET', '/_ping', async () => ping],
  ['HEAD', '/_ping', async () => ping],
  ['GET', '/libpod/_ping', async () => ping],
  ['HEAD', '/libpod/_ping', async () => ping],
  // libpod
  ['GET', '/libpod/version', libpod('version')],
  ['GET', '/libpod/info', libpod('info')],
  ['GET', '/libpod/containers/json', libpod('containerList')],
  ['GET', '/libpod/containers/{name}/json', libpod('containerInspect')],
  ['GET', '/libpod/containers/{name}/exists', libpod('containerExists')],
  ['GET', '/libpod/containers/{name}/logs', libpod('containerLogs')],
  ['POST', '/libpod/containers/create', libpod('containerCreate')],
  ['POST', '/libpod/containers/{name}/start', libpod('containerStart')],
  ['POST', '/libpod/containers/{name}/stop', libpod('containerStop')],
  ['POST', '/libpod/containers/{name}/kill', libpod('containerKill')],
  ['POST', '/libpod/containers/{name}/wait', libpod('containerWait')],
  ['DELETE', '/libpod/containers/{name}', libpod('containerDelete')],
  ['POST', '/libpod/containers/{name}/exec', libpod('execCreate')],
  ['POST', '/libpod/exec/{id}/start', libpod('execStart')],
  ['GET', '/libpod/exec/{id}/json', libpod('execInspect')],
  ['POST', '/libpod/exec/{id}/resize', libpod('execResize')],
  ['GET', '/libpod/pods/json', libpod('podList')],
  ['GET', '/libpod/pods/{name}/json', libpod('podInspect')],
  ['GET', '/libpod/pods/{name}/exists', libpod('podExists')],
  ['POST', '/libpod/pods/{name}/start', libpod('podStart')],
  ['POST', '/libpod/pods/{name}/stop', libpod('podStop')],
  ['POST', '/libpod/pods/{name}/kill', libpod('podKill')],
  ['POST', '/libpod/pods/{name}/restart', libpod('podRestart')],
  ['DELETE', '/libpod/pods/{name}', libpod('podDelete')],
  ['GET', '/libpod/images/json', libpod('imageList')],
  ['POST', '/libpod/images/pull', libpod('imagePull')],
  ['POST', '/libpod/images/load', libpod('imageLoad')],
  ['DELETE', '/libpod/images/remove', libpod('imageRemove')],
  ['POST', '/libpod/images/{name}/tag', libpod('imageTag')],
  ['DELETE', '/libpod/images/{name}', libpod('imageDelete')],
  ['GET', '/libpod/images/{name}/json', libpod('imageInspect')],
  ['GET', '/libpod/images/{name}/exists', libpod('imageExists')],
  ['POST', '/libpod/play/kube', libpod('kubePlay')],
  ['POST', '/libpod/kube/play', libpod('kubePlay')],
  ['DELETE', '/libpod/play/kube', libpod('kubeDown')],
  ['DELETE', '/libpod/kube/play', libpod('kubeDown')],
  ['GET', '/libpod/generate/kube', libpod('generateKube')],
  ['GET', '/libpod/kube/generate', libpod('generateKube')],
  // Docker Engine API v1.41
  ['GET', '/version', docker('version')],
  ['GET', '/info', docker('info')],
  ['GET', '/containers/json', docker('containerList')],
  ['POST', '/containers/create', docker('containerCreate')],
  ['GET', '/containers/{name}/json', docker('containerInspect')],
  ['POST', '/containers/{name}/start', docker('containerStart')],
  ['POST', '/containers/{name}/stop', docker('containerStop')],
  ['POST', '/containers/{name}/kill', docker('containerKill')],
  ['POST', '/containers/{name}/wait', docker('containerWait')],
  ['GET', '/containers/{name}/logs', docker('containerLogs')],
  ['POST', '/containers/{name}/attach', docker('containerAttach')],
  ['POST', '/containers/{name}/resize', docker('containerResize')],
  ['DELETE', '/containers/{name}', docker('containerDelete')],
  ['POST', '/containers/{name}/exec', docker('execCreate')],
  ['POST', '/exec/{id}/start', docker('execStart')],
  ['GET', '/exec/{id}/json', docker('execInspect')],
  ['POST', '/exec/{id}/resize', docker('execResize')],
  ['GET', '/images/json', docker('imageList')],
  ['POST', '/images/create', docker('imageCreate')],
  ['GET', '/images/{name}/json', docker('imageInspect')],
  ['POST', '/images/{name}/tag', docker('imageTag')],
  ['DELETE', '/images/{name}', docker('imageDelete')],
  ['GET', '/networks', docker('networkList')],
  ['GET', '/networks/{name}', docker('networkInspect')],
  ['GET', '/volumes', docker('volumeList')],
];

/** Splits off /vX.Y[.Z]; the rest is matched against the table. */
export function splitVersion(pathname: string): { version?: string; rest: string } {
  const m = pathname.match(/^\/v(\d+(?:\.\d+){0,2})(\/.*)$/);
  return m ? { version: m[1], rest: m[2] } : { rest: pathname };
}

/** The route for a method and path (after the version prefix): its handler loader and the {names}. */
export function match(method: string, rest: string): { load: Route[2]; params: Record<string, string> } | undefined {
  const segs = rest.replace(/\/+$/, '').split('/');
  for (const [m, pattern, load] of ROUTES) {
    if (m !== method) continue;
    const p = pattern.split('/');
    // an image name may hold slashes (docker.io/library/busybox): {name} of /images/{name}/json takes them
    if (p.length !== segs.length && !(pattern.startsWith('/images/') || pattern.startsWith('/libpod/images/'))) continue;
    const params: Record<string, string> = {};
    if (p.length === segs.length) {
      if (p.every((x, i) => (x.startsWith('{') ? (params[x.slice(1, -1)] = decodeURIComponent(segs[i])) !== '' : x === segs[i]))) return { load, params };
      continue;
    }
    // a {name} that spans several segments: the fixed parts before and after must match
    const i = p.findIndex((x) => x.startsWith('{'));
    if (i < 0 || segs.length < p.length) continue;
    const after = p.length - i - 1;
    if (p.slice(0, i).every((x, k) => x === segs[k]) && p.slice(i + 1).every((x, k) => x === segs[segs.length - after + k])) {
      params[p[i].slice(1, -1)] = decodeURIComponent(segs.slice(i, segs.length - after).join('/'));
      return { load, params };
    }
  }
  return undefined;
}

export async function route(ctx: Ctx): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  const { version, rest } = splitVersion(ctx.url.pathname);
  ctx.version = version;
  const m = match(method, rest);
  if (!m) {
    const api = rest.startsWith('/libpod/') ? 'libpod API' : 'Docker API';
    throw new ApiError(501, `${method} ${ctx.url.pathname}: this endpoint of the ${api} is not served by peapod`, 'not implemented');
  }
  ctx.params = m.params;
  const handler = await m.load();
  // an endpoint of the table whose handler is not written yet is unserved too
  if (typeof handler !== 'function') throw new ApiError(501, `${method} ${ctx.url.pathname}: this endpoint is not served by peapod yet`, 'not implemented');
  await handler(ctx);
}
