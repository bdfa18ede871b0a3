import { parseDuration } from "../../base/duration.ts";
import { UsageError } from "../../base/errors.ts";
import { parseStopSignal, type StopSignalName } from "../../base/exit-status.ts";
import { log } from "../output.ts";
import { validateId } from "../../handle/id.ts";
import { layoutOf, type Layout, trustedStateDir } from "../../handle/state.ts";

/** Flags every command takes. */
export const globalArgs = {
  dir: { type: "string", description: "State directory (default: $KRAAL_DIR, else the nearest .kraal/ above, else ./.kraal)", valueHint: "DIR" },
  verbose: { type: "boolean", description: "Show stack traces and debug output" },
} as const;

export const jsonArg = {
  json: { type: "boolean", description: "Print one JSON document on stdout" },
} as const;

export const idArg = {
  id: { type: "positional", description: "Agent id (1-128 bytes, no control characters)", required: true, valueHint: "ID" },
} as const;

export function layoutFrom(args: { dir?: string }): Layout {
  return layoutOf(trustedStateDir({ dir: args.dir }));
}

export function checkedId(id: unknown): string {
  if (typeof id !== "string") throw new UsageError("an agent id is required");
  validateId(id);
  return id;
}

/** What followed the first `--` on the command line (citty would mix it into its positionals). */
let afterDashDash: string[] | null = null;
export function setCommandArgv(argv: string[] | null): void {
  afterDashDash = argv;
}
export function commandArgv(): string[] | null {
  return afterDashDash;
}

/** Every value of a repeatable string flag (`--env A=1 --env B=2`, `--env=A=1`); citty keeps only the last. */
export function repeatedFlag(rawArgs: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === `--${name}`) {
      const v = rawArgs[++i];
      if (v === undefined) throw new UsageError(`--${name} needs a value`);
      out.push(v);
    } else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out;
}

/**
 * `--grace` and `--signal` of kill, stop and restart. No citty defaults on purpose: an agent of a
 * running `kraal up` is stopped with its own `grace` and `stop_signal` unless these are given.
 */
export const stopArgs = {
  grace: { type: "string", description: "How long to wait after the stop signal before SIGKILL (default: 300ms; for agents of kraal up, their grace)", valueHint: "DURATION" },
  signal: { type: "string", description: "The stop signal: TERM, INT, HUP, QUIT, USR1 or USR2 (default: TERM; for agents of kraal up, their stop_signal)", valueHint: "NAME" },
} as const;

/** The stop flags that were given (absent ones stay undefined). */
export function stopFlags(args: { grace?: string; signal?: string }): { graceMs?: number; signal?: StopSignalName } {
  const graceMs = args.grace === undefined ? undefined : parseDuration(args.grace, "--grace");
  if (args.signal === undefined) return { graceMs };
  const signal = parseStopSignal(args.signal);
  if (!signal) throw new UsageError(`--signal ${JSON.stringify(args.signal)}: expected one of TERM, INT, HUP, QUIT, USR1, USR2`);
  return { graceMs, signal };
}

/** A read command whose sweep found the state lock held by another process: it answered read-only. */
export function warnBusy(why: string): void {
  log().warn(`${why}; answered read-only: finished agents are shown but not moved to history this time`);
}

/** One line on stderr when a read command's sweep could not write: the answer is still right. */
export function warnUnwritable(why: string): void {
  log().warn(`${why}; finished agents are shown but not moved to history until the state directory is writable`);
}
