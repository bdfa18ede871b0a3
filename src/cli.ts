import { writeOut } from "./output.ts";

declare const CORRAL_VERSION: string | undefined;
declare const CORRAL_COMMIT: string | undefined;
/** Embedded by scripts/build.ts; `bun src/cli.ts` in a checkout reads package.json instead. */
const version =
  (typeof CORRAL_VERSION === "string" ? CORRAL_VERSION : (require("../package.json") as { version: string }).version) +
  ` (${typeof CORRAL_COMMIT === "string" ? CORRAL_COMMIT : "dev"})`;

/** Subcommands, each loaded only when it runs. Names with a leading `_` are internal. */
const COMMANDS: Record<string, () => Promise<{ default: import("citty").CommandDef<any> }>> = {
  spawn: () => import("./commands/spawn.ts"),
  kill: () => import("./commands/kill.ts"),
  ps: () => import("./commands/ps.ts"),
  status: () => import("./commands/status.ts"),
  wait: () => import("./commands/wait.ts"),
  logs: () => import("./commands/logs.ts"),
  sweep: () => import("./commands/sweep.ts"),
  run: () => import("./commands/run.ts"),
  up: () => import("./commands/up.ts"),
  down: () => import("./commands/down.ts"),
};

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
  // The fast path: no CLI framework loaded.
  writeOut(`corral ${version}\n`);
} else {
  process.exitCode = await (await import("./main.ts")).main(argv, COMMANDS, version);
}
