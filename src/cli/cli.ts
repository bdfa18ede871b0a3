// Layer cli/: the entry, argv splitting, output, error rendering, and one thin file per command
// in commands/. May import every layer; no layer imports from it.
// An ES module with no imports: the --version fast path must load nothing.
export {};

declare const KRAAL_VERSION: string | undefined;
declare const KRAAL_COMMIT: string | undefined;
/** Embedded by scripts/build.ts; `bun src/cli.ts` in a checkout reads package.json instead. */
const version =
  (typeof KRAAL_VERSION === "string" ? KRAAL_VERSION : devVersion()) + ` (${typeof KRAAL_COMMIT === "string" ? KRAAL_COMMIT : "dev"})`;

/** Only for `bun src/cli.ts` in a checkout; a built binary has the version embedded. */
function devVersion(): string {
  const path = "../../package.json"; // a variable, so the bundler does not inline the whole file
  return (require(path) as { version: string }).version;
}

/** Subcommands, each loaded only when it runs. Names with a leading `_` are internal. */
const COMMANDS: Record<string, () => Promise<{ default: import("citty").CommandDef<any> }>> = {
  spawn: () => import("./commands/spawn.ts"),
  kill: () => import("./commands/kill.ts"),
  stop: () => import("./commands/stop.ts"),
  start: () => import("./commands/start.ts"),
  restart: () => import("./commands/restart.ts"),
  ps: () => import("./commands/ps.ts"),
  status: () => import("./commands/status.ts"),
  wait: () => import("./commands/wait.ts"),
  logs: () => import("./commands/logs.ts"),
  sweep: () => import("./commands/sweep.ts"),
  run: () => import("./commands/run.ts"),
  up: () => import("./commands/up.ts"),
  down: () => import("./commands/down.ts"),
  worktree: () => import("./commands/worktree.ts"),
  mcp: () => import("./commands/mcp.ts"),
  doctor: () => import("./commands/doctor.ts"),
};

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
  // The fast path: no module is loaded, not even node:fs (whose initialisation alone costs
  // ~0.7 ms, a quarter of a Bun process's start-up); console.log is what the floor uses.
  console.log(`kraal ${version}`);
} else {
  process.exitCode = await (await import("./main.ts")).main(argv, COMMANDS, version);
}
