// Image references (names): parsing and normalisation with the rules Podman uses.
//
// The grammar is the one of the distribution "reference" package that every container tool
// shares:  [domain[:port]/]path-component(/path-component)*[:tag][@digest].
//
// Two normalisations exist in Podman, and they differ only for names without a registry:
//   - local names (podman import/tag/load of an OCI archive, libimage.NormalizeName):
//       "busybox" -> "localhost/busybox:latest", "ns/app" -> "localhost/ns/app:latest"
//   - Docker names (RepoTags of a docker-archive, pulls):
//       "busybox" -> "docker.io/library/busybox:latest", "ns/app" -> "docker.io/ns/app:latest"
// Both turn "docker.io/busybox" into "docker.io/library/busybox:latest" and drop the tag of a
// "name:tag@digest" reference (the digest is what identifies the image then).

import { PeapodError } from '../errors.js';

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
// Path components are matched case-insensitively here so that "Busybox" gets the precise
// "must be lowercase" error below instead of a generic syntax error.
const REFERENCE_RE = new RegExp(
  `^((?:${DOMAIN}/)?${PATH_COMPONENT.replace(/a-z0-9/g, 'a-zA-Z0-9')}(?:/${PATH_COMPONENT.replace(/a-z0-9/g, 'a-zA-Z0-9')})*)` +
  `(?::(${TAG}))?(?:@(${DIGEST}))?$`,
);
const HEX64_RE = /^[a-f0-9]{64}$/;
const NAME_TOTAL_MAX = 255;

export const DEFAULT_DOCKER_DOMAIN = 'docker.io';
export const LOCAL_DOMAIN = 'localhost';

/** A reference split into its parts. `domain` is empty when the input named no registry. */
export interface ParsedReference {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

function invalidReference(ref: string, why = 'invalid reference format'): PeapodError {
  return new PeapodError('invalid', `${why}: "${ref}"`);
}

/** True when the first component of a name is a registry host rather than a path component. */
function isDomain(component: string, dockerRules: boolean): boolean {
  if (component.includes('.') || component.includes(':') || component === LOCAL_DOMAIN) return true;
  // The Docker rules also treat an upper-case first component as a host (it cannot be a path).
  return dockerRules && component.toLowerCase() !== component;
}

/**
 * Parse a reference without applying any defaults. The domain is only recognised when the
 * first component looks like a host (contains "." or ":" or is "localhost"), as Podman does.
 * Throws PeapodError('invalid') on a syntax error.
 */
export function parseReference(ref: string, opts: { dockerRules?: boolean } = {}): ParsedReference {
  const m = REFERENCE_RE.exec(ref);
  if (!m) throw invalidReference(ref);
  const name = m[1]!;
  if (name.length > NAME_TOTAL_MAX) throw invalidReference(ref, `repository name must not be more than ${NAME_TOTAL_MAX} characters`);
  if (HEX64_RE.test(ref)) throw invalidReference(ref, 'invalid repository name, cannot specify 64-byte hexadecimal strings');
  const slash = name.indexOf('/');
  let domain = '';
  let path = name;
  if (slash !== -1 && isDomain(name.slice(0, slash), opts.dockerRules ?? false)) {
    domain = name.slice(0, slash);
    path = name.slice(slash + 1);
  }
  if (path.toLowerCase() !== path) throw invalidReference(ref, `repository name must be lowercase`);
  return { domain, path, tag: m[2], digest: m[3] };
}

/**
 * Normalise an image name the way Podman does.
 *
 * defaultDomain 'localhost' (the default) is libimage.NormalizeName, used for the names given to
 * `import`, `tag` and the ref.name annotation of OCI archives; 'docker.io' is the Docker rule,
 * used for the RepoTags of docker-archives (and pulls). A missing tag becomes ":latest" unless a
 * digest is given; a tag next to a digest is dropped.
 */
export function normalizeImageName(ref: string, opts: { defaultDomain?: 'localhost' | 'docker.io' } = {}): string {
  const dockerRules = opts.defaultDomain === DEFAULT_DOCKER_DOMAIN;
  const p = parseReference(ref, { dockerRules });
  let domain = p.domain || (dockerRules ? DEFAULT_DOCKER_DOMAIN : LOCAL_DOMAIN);
  let path = p.path;
  if (domain === 'index.docker.io') domain = DEFAULT_DOCKER_DOMAIN;
  if (domain === DEFAULT_DOCKER_DOMAIN && !path.includes('/')) path = `library/${path}`;
  const repo = `${domain}/${path}`;
  if (p.digest) return `${repo}@${p.digest}`;
  return `${repo}:${p.tag ?? 'latest'}`;
}

/** Split a normalised name ("domain/path:tag" or "domain/path@digest") into repository, tag and digest. */
export function splitName(name: string): { repository: string; tag?: string; digest?: string } {
  const at = name.indexOf('@');
  if (at !== -1) return { repository: name.slice(0, at), digest: name.slice(at + 1) };
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) return { repository: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repository: name };
}

/**
 * Whether `name` (a stored, normalised name) is what the short reference `short` (no registry)
 * means, by Podman's fuzzy rule: the repository ends with "/<short path>" at a path boundary and
 * the tag matches ("latest" when the short reference has neither tag nor digest).
 */
export function shortNameMatches(short: ParsedReference, name: string): boolean {
  const n = splitName(name);
  if (short.digest) return false; // digests are matched against the image's digests, not its names
  if ((n.tag ?? '') !== (short.tag ?? 'latest')) return false;
  return n.repository === short.path || n.repository.endsWith(`/${short.path}`);
}
