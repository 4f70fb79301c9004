// The use-case layer (src/app): one function per thing a front end asks of peapod, options in, a
// report out (Podman's ContainerEngine shape). The CLI (and later an API server or a watcher)
// parses its input, makes one call here and formats what comes back; it never reaches into the
// engine's store or runtime itself.
import type { Engine } from '../../engine/engine.js';

/** Opens the engine when a use case first needs it (a dry run or a refused manifest never does). */
export type Opener = () => Promise<Engine>;
