import type { CommandDef } from "citty";
import { parsesEmptyToNothing } from "./command.ts";
import { setCommandArgv } from "./commands/_shared.ts";
import { invalidUtf8Args, showBytes } from "../sys/argv.ts";
import { KraalError, EXIT, fsError, UsageError } from "../base/errors.ts";
import { commandHelp, didYouMean, rootHelp, SYNOPSIS } from "./help.ts";
import { isVerbose, log, setVerbose, writeOut } from "./output.ts";
import { onLockWait } from "../handle/lock.ts";

type Loader = () => Promise<{ default: CommandDef<any> }>;

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

const kebab = (n: string) => n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const isFlagToken = (t: string) => t.startsWith("-") && t !== "-" && !/^-\d/.test(t);

/**
 * Binds flags whose value is optional (declared `optionalValue: true`: `--worktree` alone, or
 * `--worktree DIR`) into one token, `--worktree=` or `--worktree=DIR`, so the checks and citty
 * see an ordinary string flag. The word after such a flag is its value only when the command's
 * positionals are complete without it (`spawn --worktree a -- x`: `a` is the id).
 */
export function bindOptionalValues(cmd: CommandDef<any>, rawArgs: string[]): string[] {
  const defs = Object.entries((cmd.args ?? {}) as Record<string, { type?: string; alias?: string | string[]; optionalValue?: boolean }>);
  const optional = new Set(defs.filter(([, d]) => d.optionalValue).flatMap(([n]) => [`--${n}`, `--${kebab(n)}`]));
  if (optional.size === 0) return rawArgs;
  const takesValue = new Set(defs.filter(([, d]) => d.type === "string" && !d.optionalValue).flatMap(([n, d]) => [`--${n}`, `--${kebab(n)}`, ...[d.alias ?? []].flat().map((a) => `-${a}`)]));
  const positionals = defs.filter(([, d]) => d.type === "positional").length;
  let words = 0;
  for (let k = 0; k < rawArgs.length; k++) {
    if (takesValue.has(rawArgs[k]!)) k++;
    else if (!isFlagToken(rawArgs[k]!)) words++;
  }
  let spare = words - positionals;
  const out: string[] = [];
  for (let k = 0; k < rawArgs.length; k++) {
    const t = rawArgs[k]!;
    const next = rawArgs[k + 1];
    if (takesValue.has(t) && next !== undefined) out.push(t, rawArgs[++k]!);
    else if (optional.has(t)) {
      if (spare > 0 && next !== undefined && !isFlagToken(next)) {
        out.push(`${t}=${next}`);
        k++;
        spare--;
      } else out.push(`${t}=`);
    } else out.push(t);
  }
  return out;
}

/**
 * Takes `--id X` and `--id=X` out of the arguments of a command whose positional is an agent id
 * (value hint `ID` or `ID...`), so an id may start with `-`: citty would read `-x` as a flag.
 * The ids are then given to citty after a `--`, where nothing is read as a flag.
 */
export function takeIdFlags(cmd: CommandDef<any>, rawArgs: string[]): { rawArgs: string[]; ids: string[] } {
  const defs = Object.values((cmd.args ?? {}) as Record<string, { type?: string; valueHint?: string }>);
  if (!defs.some((d) => d.type === "positional" && /^ID(\.\.\.)?$/.test(d.valueHint ?? ""))) return { rawArgs, ids: [] };
  const out: string[] = [];
  const ids: string[] = [];
  for (let k = 0; k < rawArgs.length; k++) {
    const t = rawArgs[k]!;
    if (t === "--id") {
      if (k + 1 >= rawArgs.length) throw new UsageError("--id needs a value", "an id that starts with - goes after --id: kraal status --id -x");
      ids.push(rawArgs[++k]!);
    } else if (t.startsWith("--id=")) ids.push(t.slice(5));
    else out.push(t);
  }
  return { rawArgs: out, ids };
}

/** Commands that take `-- CMD [ARGS...]`. */
const TAKES_COMMAND = new Set(["spawn", "run"]);

/**
 * Checks what citty would let through silently: unknown flags, a string flag given no value,
 * positional arguments beyond those the command declares (a declared one whose value hint ends
 * in "..." takes any number), and, for commands that run CMD, a command given without `--`
 * (`kraal run sh -c true`), which gets the corrected command line as its hint.
 */
function checkArguments(name: string, cmd: CommandDef<any>, rawArgs: string[], rest: string[] | null, ids: string[]): void {
  const defs = (cmd.args ?? {}) as Record<string, { type?: string; alias?: string | string[]; valueHint?: string }>;
  const positional = Object.values(defs).filter((d) => d.type === "positional");
  const variadic = positional.some((d) => d.valueHint?.endsWith("..."));
  const takesValue = new Set<string>();
  for (const [n, d] of Object.entries(defs)) {
    if (d.type !== "string") continue;
    takesValue.add(`--${n}`).add(`--${n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    for (const a of [d.alias ?? []].flat()) takesValue.add(`-${a}`);
  }
  // Walk the tokens as citty will: where does the first stray token (extra positional or unknown flag) stand?
  let seen = 0;
  let stray = -1;
  for (let k = 0; k < rawArgs.length; k++) {
    const t = rawArgs[k]!;
    if (takesValue.has(t)) {
      if (k + 1 >= rawArgs.length || rawArgs[k + 1] === "") throw new UsageError(`${t} needs a value`, `usage: kraal ${SYNOPSIS[name]?.usage ?? name}`);
      k++;
      continue;
    }
    const isFlag = t.startsWith("-") && t !== "-" && !/^-\d/.test(t);
    if (isFlag ? unknownFlags(cmd, [t]).length > 0 : ++seen > positional.length && !variadic) {
      stray = k;
      break;
    }
  }
  if (stray < 0) {
    // Ids given with --id or after `--` are positionals too: one too many is refused, not dropped.
    const room = variadic ? Infinity : positional.length - seen;
    if (ids.length > room) throw new UsageError(`${name}: unexpected argument ${JSON.stringify(ids[Math.max(0, room)])}`, `usage: kraal ${SYNOPSIS[name]?.usage ?? name}`);
    return;
  }
  if (TAKES_COMMAND.has(name) && rest === null) {
    const line = [...rawArgs.slice(0, stray), "--", ...rawArgs.slice(stray)].join(" ");
    throw new UsageError(`${name}: the command to run goes after --`, `did you mean: kraal ${name} ${line}`);
  }
  const t = rawArgs[stray]!;
  if (t.startsWith("-")) throw new UsageError(`unknown option ${unknownFlags(cmd, [t])[0]} for ${name}`, `see: kraal ${name} --help`);
  throw new UsageError(`${name}: unexpected argument ${JSON.stringify(t)}`, `usage: kraal ${SYNOPSIS[name]?.usage ?? name}`);
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
    // citty's own parse errors (a missing positional): usage errors, in kraal's style.
    const missing = /Missing required positional argument: (\S+)/.exec(err.message);
    log().error(missing ? `${command ? `${command}: ` : ""}missing argument ${missing[1]}` : err.message);
    if (command) writeStderr(`  usage: kraal ${SYNOPSIS[command]?.usage ?? command}`);
    return EXIT.usage;
  }
  const fs = fsError(e);
  if (fs) return renderError(fs, command);
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
  const [notUtf8] = invalidUtf8Args(argv);
  if (notUtf8) {
    const what = notUtf8[0] < own.length ? "agent ids, paths and options must be UTF-8" : "kraal passes a command's arguments as text and would change its bytes";
    return renderError(new UsageError(`argument "${showBytes(notUtf8[1])}" is not valid UTF-8: ${what}`));
  }
  const globals: string[] = [];
  let i = 0;
  for (; i < own.length && own[i]!.startsWith("-"); i++) {
    const a = own[i]!;
    if (a === "--dir") {
      const value = own[++i];
      if (value === undefined || value === "") return renderError(new UsageError("--dir needs a value", "usage: kraal --dir DIR <command> ..."));
      globals.push(a, value);
    } else if (a.startsWith("--dir=") || a === "--verbose") globals.push(a);
    else if (a === "--help" || a === "-h") {
      writeOut(rootHelp(version, Object.keys(commands)));
      return EXIT.ok;
    } else if (a === "--version" || a === "-V") {
      writeOut(`kraal ${version}\n`);
      return EXIT.ok;
    } else return renderError(new UsageError(`unknown option ${a}`, "see: kraal --help"));
  }
  setVerbose(globals.includes("--verbose"));
  let name = own[i];
  let help = false;
  if (name === "help" && own[i + 1] !== undefined) {
    name = own[++i];
    help = true;
  } else if (name === undefined || name === "help") {
    if (name === undefined && rest === null && globals.length === 0) {
      writeStderr(rootHelp(version, Object.keys(commands)).trimEnd());
      return EXIT.usage;
    }
    writeOut(rootHelp(version, Object.keys(commands)));
    return name === "help" ? EXIT.ok : EXIT.usage;
  }
  const load = commands[name!];
  if (!load) {
    const guess = didYouMean(name!, Object.keys(commands));
    return renderError(new UsageError(`unknown command ${JSON.stringify(name)}`, guess ? `did you mean: kraal ${guess}` : "see: kraal --help"));
  }
  let rawArgs = [...globals, ...own.slice(i + 1)];
  try {
    const cmd = (await load()).default;
    // An empty command line (`kraal ps`) has nothing to bind, take or check.
    if (rawArgs.length) rawArgs = bindOptionalValues(cmd, rawArgs);
    if (help || rawArgs.includes("--help") || rawArgs.includes("-h")) {
      writeOut(commandHelp(name!, cmd));
      return EXIT.ok;
    }
    const byFlag = rawArgs.length ? takeIdFlags(cmd, rawArgs) : { rawArgs, ids: [] };
    rawArgs = byFlag.rawArgs;
    // Ids given with --id, and for commands that run no CMD everything after `--`, are positionals
    // that may start with `-`: citty reads nothing after a `--` as a flag.
    const ids = [...byFlag.ids, ...(TAKES_COMMAND.has(name!) ? [] : (rest ?? []))];
    if (rawArgs.length || ids.length) checkArguments(name!, cmd, rawArgs, rest, ids);
    setCommandArgv(rest);
    const line = ids.length ? [...rawArgs, "--", ...ids] : rawArgs;
    // citty (and the node:util it loads) only when there is something to parse.
    const args: Record<string, any> =
      line.length === 0 && parsesEmptyToNothing(cmd) ? { _: [] } : (await import("citty")).parseArgs(line, (cmd.args ?? {}) as any);
    setVerbose(Boolean(args.verbose));
    onLockWait((text) => log().info(text));
    await cmd.run?.({ rawArgs, args, cmd } as any);
    return Number(process.exitCode ?? EXIT.ok);
  } catch (e) {
    const status = renderError(e, name);
    const own = OWN_FAILURE_STATUS[name!];
    return own !== undefined && (status === EXIT.usage || status === EXIT.failed || status === EXIT.busy) ? own : status;
  }
}
