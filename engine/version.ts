// The engine's version; the CLI prints it and the infra image is tagged with it.
export const VERSION = '0.1.0';
