import { type CommandDef, parseArgs, renderUsage } from "citty";
import { setCommandArgv } from "./commands/_shared.ts";
import { KraalError, EXIT, UsageError } from "../base/errors.ts";
import { isVerbose, log, setVerbose, writeOut } from "./output.ts";

type Loader = () => Promise<{ default: CommandDef<any> }>;

const ROOT_HELP = (version: string, names: string[]) => `kraal ${version}: supervise agents in owned process groups; killed by handle, never by guess.

Usage: kraal [--dir DIR] <command> [options]

Commands:
  spawn ID [--cwd DIR] [--env K=V]... -- CMD [ARGS...]   start CMD detached, in its own process group
  kill ID... | --all [--grace 300ms] [--force]           TERM, grace, KILL, confirm; then retire the handle
  ps [-a] [--json]                                       list agents (-a: with finished ones)
  status ID [--json]                                     one agent; exits 0 running, 3 not running, 4 unknown
  wait ID [--timeout DURATION]                           block until it ends; exit with its exit status
  logs ID [-f] [-n N]                                    its stdout+stderr (-f: follow while it runs)
  sweep [--dry-run] [--json]                             retire dead handles, quarantine corrupt ones

Global: --dir DIR (or KRAAL_DIR), --verbose, --version, --help.
Run 'kraal <command> --help' for a command's options. Available: ${names.join(", ")}.
`;

/** Splits argv at the first `--`: kraal's own flags before it, the agent's command after it. */
export function splitDashDash(argv: string[]): { own: string[]; rest: string[] | null } {
  const i = argv.indexOf("--");
  return i < 0 ? { own: argv, rest: null } : { own: argv.slice(0, i), rest: argv.slice(i + 1) };
}

/** Flags not declared by the command (citty would pass them silently). */
function unknownFlags(cmd: CommandDef<any>, rawArgs: string[]): string[] {
  const defs = (cmd.args ?? {}) as Record<string, { type?: string; alias?: string | string[] }>;
  const known = new Set<string>(["help", "h"]);
  for (const [name, d] of Object.entries(defs)) {
    if (d.type === "positional") continue;
    known.add(name);
    known.add(name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
    for (const a of [d.alias ?? []].flat()) known.add(a);
    if (d.type === "boolean") known.add(`no-${name}`);
  }
  const bad: string[] = [];
  for (const a of rawArgs) {
    const m = /^--?([^=]+)/.exec(a);
    if (!m || a === "-" || /^-\d/.test(a)) continue;
    const names = a.startsWith("--") ? [m[1]!] : [...m[1]!];
    for (const n of names) if (!known.has(n)) bad.push(a.startsWith("--") ? `--${n}` : `-${n}`);
  }
  return bad;
}

/**
 * Commands that pass on a child's exit status reserve a status for their own failures, as
 * timeout(1) and env(1) do: `kraal run` exits 125 for anything kraal itself got wrong.
 */
const OWN_FAILURE_STATUS: Record<string, number> = { run: 125 };

/** Prints an error as one line (plus a hint line); stack traces only with --verbose. Returns the exit status. */
export function renderError(e: unknown, command?: string): number {
  if (e instanceof KraalError) {
    log().error(e.message);
    if (e.hint) writeStderr(`  ${e.hint}`);
    if (isVerbose() && e.stack) writeStderr(e.stack);
    return e.exitCode;
  }
  const err = e as Error & { code?: string };
  if (err?.name === "CLIError" || err?.code?.startsWith?.("E_")) {
    // citty's own parse errors (missing positional, unknown subcommand): usage errors.
    log().error(`${err.message}${command ? `; see: kraal ${command} --help` : ""}`);
    return EXIT.usage;
  }
  log().error(`internal error: ${err?.message ?? String(e)}`);
  if (isVerbose() && err?.stack) writeStderr(err.stack);
  return EXIT.failed;
}

function writeStderr(line: string): void {
  try {
    require("node:fs").writeSync(2, `${line}\n`);
  } catch {}
}

/**
 * Runs one kraal command line and returns its exit status. Handles what citty leaves to its
 * caller on purpose: global flags before the command, `--` splitting, unknown flags, help, and
 * one place that turns every error into a line on stderr.
 */
export async function main(argv: string[], commands: Record<string, Loader>, version: string): Promise<number> {
  const { own, rest } = splitDashDash(argv);
  const globals: string[] = [];
  let i = 0;
  for (; i < own.length && own[i]!.startsWith("-"); i++) {
    const a = own[i]!;
    if (a === "--dir") globals.push(a, own[++i] ?? "");
    else if (a.startsWith("--dir=") || a === "--verbose") globals.push(a);
    else if (a === "--help" || a === "-h") {
      writeOut(ROOT_HELP(version, Object.keys(commands)));
      return EXIT.ok;
    } else if (a === "--version" || a === "-V") {
      writeOut(`kraal ${version}\n`);
      return EXIT.ok;
    } else return renderError(new UsageError(`unknown option ${a}`, "see: kraal --help"));
  }
  setVerbose(globals.includes("--verbose"));
  const name = own[i];
  if (name === undefined || name === "help") {
    if (name === undefined && rest === null && globals.length === 0) {
      writeStderr(ROOT_HELP(version, Object.keys(commands)).trimEnd());
      return EXIT.usage;
    }
    writeOut(ROOT_HELP(version, Object.keys(commands)));
    return name === "help" ? EXIT.ok : EXIT.usage;
  }
  const load = commands[name];
  if (!load) return renderError(new UsageError(`unknown command ${JSON.stringify(name)}`, "see: kraal --help"));
  const rawArgs = [...globals, ...own.slice(i + 1)];
  try {
    const cmd = (await load()).default;
    if (rawArgs.includes("--help") || rawArgs.includes("-h")) {
      writeOut(`${await renderUsage(cmd)}\n`);
      return EXIT.ok;
    }
    const bad = unknownFlags(cmd, rawArgs);
    if (bad.length) throw new UsageError(`unknown option ${bad[0]} for ${name}`, `see: kraal ${name} --help`);
    setCommandArgv(rest);
    const args = parseArgs(rawArgs, (cmd.args ?? {}) as any);
    setVerbose(Boolean(args.verbose));
    await cmd.run?.({ rawArgs, args, cmd } as any);
    return Number(process.exitCode ?? EXIT.ok);
  } catch (e) {
    const status = renderError(e, name);
    const own = OWN_FAILURE_STATUS[name];
    return own !== undefined && (status === EXIT.usage || status === EXIT.failed) ? own : status;
  }
}
