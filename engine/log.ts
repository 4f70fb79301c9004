// Minimal leveled logging to stderr. `--log-level debug` shows commands run and runtime stderr.
const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];
let current: Level = 'warn';
const started = Date.now() - Math.round(process.uptime() * 1000);

export function setLogLevel(level: string): void {
  if ((LEVELS as readonly string[]).includes(level)) current = level as Level;
}

function emit(level: Level, msg: string): void {
  if (LEVELS.indexOf(level) < LEVELS.indexOf(current)) return;
  // Like Podman's logrus prefix: level and seconds since start (with milliseconds: timing matters here).
  const t = ((Date.now() - started) / 1000).toFixed(3).padStart(8, '0');
  process.stderr.write(`${level === 'warn' ? 'WARN' : level.toUpperCase()}[${t}] ${msg}\n`);
}

export const debug = (msg: string) => emit('debug', msg);
export const info = (msg: string) => emit('info', msg);
export const warn = (msg: string) => emit('warn', msg);
export const isDebug = () => current === 'debug';
