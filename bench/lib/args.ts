// Pure: the bench's command line.

export const GROUPS = ['version', '1x1', '1x5', '10x1', 'deploy', 'ps', 'pull'] as const;
export type Group = (typeof GROUPS)[number];

export interface BenchArgs {
  reps: number;
  only: Group[];
  podman: boolean;
  readme: boolean;
  profile: boolean;
  help: boolean;
  /** another peapod to measure (a prototype build); such a run never touches README.md */
  peapodBin?: string;
  /** a second peapod build measured in podman's place (A/B of two builds) */
  against?: string;
}

export const USAGE = `usage: npm run bench -- [options]     (after npm run build, as root)

Runs the same scenarios with peapod and, where it is installed, podman, interleaved, and prints
medians and min-max, the ratio peapod/podman and the CLI's peak memory. Results go to
bench/results/<date>.json; a full run also rewrites the Benchmarks section of README.md.

options:
  --reps N         repetitions of every timed scenario (default 5)
  --only G[,G...]  run only these groups: ${GROUPS.join(', ')}
                   (a partial run does not touch README.md)
  --no-podman      peapod alone, even where podman is installed
  --no-readme      do not rewrite README.md
  --peapod-bin P   measure the peapod at P (e.g. a prototype build) instead of bin/peapod;
                   README.md is then left alone
  --against P      compare with the peapod at P instead of podman (A/B of two builds,
                   interleaved); README.md is then left alone
  --profile        instead of the comparison: where peapod's time goes in play kube 1x1 and
                   10x1 and kube down (CPU profile, debug log, process spawns)
  -h, --help       this text`;

export function parseArgs(argv: readonly string[]): BenchArgs {
  const a: BenchArgs = { reps: 5, only: [...GROUPS], podman: true, readme: true, profile: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--reps': {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 100) throw new Error(`--reps: expected a whole number from 1 to 100, got "${v}"`);
        a.reps = n;
        break;
      }
      case '--only': {
        const names = value().split(',').map((s) => s.trim()).filter(Boolean);
        const bad = names.filter((n) => !(GROUPS as readonly string[]).includes(n));
        if (bad.length || !names.length) throw new Error(`--only: unknown group ${bad.map((b) => `"${b}"`).join(', ') || '(none given)'}; groups: ${GROUPS.join(', ')}`);
        a.only = GROUPS.filter((g) => names.includes(g));
        break;
      }
      case '--no-podman': a.podman = false; break;
      case '--no-readme': a.readme = false; break;
      case '--profile': a.profile = true; break;
      case '--peapod-bin': a.peapodBin = value(); break;
      case '--against': a.against = value(); break;
      case '-h':
      case '--help': a.help = true; break;
      default: throw new Error(`unknown option "${arg}" (see --help)`);
    }
  }
  return a;
}

/** A run that covers every group, so its table may stand in the README. */
export function isFullRun(a: BenchArgs): boolean {
  return GROUPS.every((g) => a.only.includes(g)) && !a.peapodBin && !a.against;
}
