// The one catalogue of peapod's errors. A leaf: imports nothing internal.
// Every error the user can see is a PeapodError; the CLI's single handler prints
// `Error: <message>` and exits with `exitCode`.

export type ErrorCode =
  | 'not-found'          // no such container, pod, image, volume, network
  | 'exists'             // a name already in use
  | 'invalid'            // bad input: flags, references, manifests
  | 'state'              // wrong state for the operation (running, not running, ...)
  | 'unsafe-layer'       // a layer or archive entry escapes its root
  | 'runtime'            // the OCI runtime or conmon failed
  | 'not-executable'     // the container command exists but cannot be executed (126)
  | 'command-not-found'  // the container command does not exist (127)
  | 'lock'               // could not take the state lock
  | 'prerequisite'       // a host prerequisite is missing (doctor says how to fix it)
  | 'internal';

const EXIT_CODES: Partial<Record<ErrorCode, number>> = {
  'not-executable': 126,
  'command-not-found': 127,
};

export class PeapodError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  /** Process exit code when this error ends a CLI command: 125 unless the container command was at fault. */
  readonly exitCode: number;

  /** exitCode: where Podman's command exits otherwise (`rm` of an unknown container exits 1, of a running one 2). */
  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PeapodError';
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? EXIT_CODES[code] ?? 125;
  }
}

export const notFound = (what: string, name: string) => new PeapodError('not-found', `no ${what} with name or ID "${name}" found`);
export const invalid = (message: string, hint?: string) => new PeapodError('invalid', message, { hint });
export const stateError = (message: string) => new PeapodError('state', message);

/** Prefix a lower-level error with what was being done (gerund form), keeping its code and cause. */
export function wrap(err: unknown, doing: string): PeapodError {
  if (err instanceof PeapodError) {
    return new PeapodError(err.code, `${doing}: ${err.message}`, { hint: err.hint, cause: err, exitCode: err.exitCode });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new PeapodError('internal', `${doing}: ${msg}`, { cause: err });
}
