import { defineCommand } from "../command.ts";
import { formatDuration } from "../../base/duration.ts";
import { printable, truncate } from "../../base/printable.ts";
import { countEndedSince, readHistory } from "../../lifecycle/history.ts";
import { useColor, writeJson, writeOut } from "../output.ts";
import { isTerminal } from "../../sys/tty.ts";
import { type AgentRow, rowOfHistory, rowsOfEntries, startedMs, withDetails, withSupervisor } from "../rows.ts";
import { readSupervisor } from "../../supervise/supervisor.ts";
import { sweep } from "../../lifecycle/sweep.ts";
import type { Layout } from "../../handle/state.ts";
import { globalArgs, jsonArg, layoutFrom, warnBusy, warnUnwritable } from "./_shared.ts";
import { WRAPPER_KILLED } from "../../handle/verdict.ts";

const STATE_COLOR: Record<string, number> = { running: 32, starting: 36, waiting: 36, stopped: 90, exited: 90, stale: 33, foreign: 35, unverified: 33, corrupt: 31, backoff: 33, failed: 31 };

/** Finished agents younger than this are mentioned under the table. */
const RECENT_MS = 3_600_000;

/** A shell-like rendering of argv for people; `--json` keeps the exact array. */
export function showArgv(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

function exitText(r: AgentRow): string {
  if (r.signal) return r.signal;
  if (r.exitCode !== null) return String(r.exitCode);
  return r.state === "running" ? "" : "-";
}

const ASCII = /^[\x00-\x7f]*$/;

/** Ids longer than this are cut in the table when it must fit a terminal (`--json` has them whole). */
const ID_WIDTH = 32;
/** Where TIER is in the table. */
const TIER_COLUMN = 3;
/** The command column keeps at least this much when the other columns are wide. */
const MIN_COMMAND_WIDTH = 16;

/**
 * The width the table must fit: the terminal's when stdout is one, else `$COLUMNS` if set, else
 * none. `process.stdout` is touched only on a terminal: creating that stream loads Node's stream
 * modules, a millisecond or two that a piped `kraal ps` (a script, an agent) should not pay.
 */
export function outputWidth(): number {
  if (isTerminal(1) && process.stdout.columns) return process.stdout.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env > 0 ? env : Infinity;
}

/** Spaces to pad cells with, cut to length (a slice is cheaper than building each run). */
const SPACES = " ".repeat(256);
const spaces = (n: number) => (n <= SPACES.length ? SPACES.slice(0, n) : " ".repeat(n));

/** A cell's width in characters, not UTF-16 units; a plain-ASCII cell (nearly all) is measured by its length. */
const cellWidth = (v: string) => (ASCII.test(v) ? v.length : Array.from(v).length);

/**
 * The `ps` table: one row per agent, padded columns, state coloured on a TTY. Every cell is shown
 * with control and format characters escaped; within a finite `width`, long ids and the command
 * are cut with an ellipsis.
 */
export function renderTable(rows: AgentRow[], now: number, color: boolean, width = Infinity): string {
  // Optional columns, shown when any row has a value (one pass: three `some` cost a millisecond at 1,000 rows).
  let restarts = false;
  let branches = false;
  let procs = false;
  for (const r of rows) {
    if (r.restarts !== undefined) restarts = true;
    if (r.branch !== undefined) branches = true;
    if (r.members !== undefined) procs = true;
  }
  const head = ["ID", "STATE", "PGID", "TIER", ...(procs ? ["PROCS"] : []), "STARTED", "UPTIME", "EXIT", ...(restarts ? ["RESTARTS"] : []), ...(branches ? ["BRANCH"] : []), "COMMAND"];
  // Cells and their widths, measured once. Only escaped text (id, state, branch, command) can be
  // other than ASCII; every other cell is digits, dates and words of kraal's own.
  const cells: string[][] = new Array(rows.length);
  let lens: number[][] = new Array(rows.length);
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k]!;
    const started = startedMs(r);
    const id = printable(r.id);
    const state = printable(r.reason && ((r.state !== "running" && r.state !== "exited" && r.state !== "failed") || r.reason === WRAPPER_KILLED) ? `${r.state} (${r.reason})` : r.state);
    const c = [id, state, r.pgid === null ? "-" : String(r.pgid), r.tier ?? "-"];
    if (procs) c.push(procsText(r));
    // startedAt is an ISO 8601 string in UTC: its first 19 characters are the date and time.
    c.push(
      r.startedAt ? `${r.startedAt.slice(0, 10)} ${r.startedAt.slice(11, 19)}` : "-",
      started && r.state === "running" ? formatDuration(now - started) : started && r.endedAt ? formatDuration(Date.parse(r.endedAt) - started) : "-",
      exitText(r),
    );
    if (restarts) c.push(String(r.restarts ?? 0));
    const branch = branches ? c.push(printable(r.branch ?? "-")) - 1 : -1;
    const command = printable(showArgv(r.argv));
    c.push(command);
    const l: number[] = new Array(c.length);
    for (let i = 0; i < c.length; i++) l[i] = c[i]!.length;
    l[0] = cellWidth(id);
    l[1] = cellWidth(state);
    if (branch >= 0) l[branch] = cellWidth(c[branch]!);
    l[c.length - 1] = cellWidth(command);
    cells[k] = c;
    lens[k] = l;
  }
  const measure = () => cells.map((c) => c.map(cellWidth));
  const columnWidths = () => {
    const w = head.map((h) => h.length);
    for (const l of lens) for (let i = 0; i < l.length; i++) if (l[i]! > w[i]!) w[i] = l[i]!;
    return w;
  };
  let widths = columnWidths();
  // Within a width, TIER (and PROCS) give way first (ps --json and kraal doctor still say them): the rest, at
  // their narrowest, must fit before an id or a command is cut.
  if (Number.isFinite(width) && widths.reduce((a, w) => a + w + 2, 0) - 2 > width) {
    const narrowest = widths.reduce((a, w, i) => a + (i === 0 ? Math.min(w, 8) : i === widths.length - 1 ? Math.min(w, MIN_COMMAND_WIDTH) : w) + 2, 0) - 2;
    if (narrowest > width) {
      const n = procs ? 2 : 1;
      head.splice(TIER_COLUMN, n);
      for (const c of cells) c.splice(TIER_COLUMN, n);
      for (const l of lens) l.splice(TIER_COLUMN, n);
      widths = columnWidths();
    }
  }
  const last = head.length - 1;
  if (Number.isFinite(width)) {
    // The middle columns are short and fixed; the id gives way down to 8 characters, then the command.
    const middle = widths.slice(1, last).reduce((a, w) => a + w + 2, 0) + 2;
    const idRoom = Math.max(8, Math.min(ID_WIDTH, width - middle - MIN_COMMAND_WIDTH));
    for (const c of cells) c[0] = truncate(c[0]!, idRoom);
    lens = measure();
    widths = columnWidths();
    const room = Math.max(MIN_COMMAND_WIDTH, width - widths.slice(0, last).reduce((a, w) => a + w + 2, 0));
    for (const c of cells) c[last] = truncate(c[last]!, room);
  }
  // One line per row: every cell but the last padded to its column, two spaces between; a line
  // ends where its text does (an empty last cell leaves no trailing blanks).
  const line = (c: string[], l: number[], state?: string) => {
    let out = "";
    for (let i = 0; i < last; i++) {
      const padded = c[i]! + spaces(widths[i]! - l[i]!);
      out += color && i === 1 && state ? `\x1b[${STATE_COLOR[state] ?? 0}m${padded}\x1b[0m  ` : `${padded}  `;
    }
    return c[last] ? out + c[last] : out.trimEnd();
  };
  let out = line(head, head.map((h) => h.length)) + "\n";
  for (let i = 0; i < cells.length; i++) out += line(cells[i]!, lens[i]!, rows[i]!.state) + "\n";
  return out;
}

/** PROCS: the processes in an agent's cgroup, and how many escaped its group ("3, 2 escaped"). */
function procsText(r: AgentRow): string {
  if (r.members === undefined) return "-";
  return r.escapees ? `${r.members}, ${r.escapees} escaped` : String(r.members);
}

/** The rows `ps` shows (after the sweep): history first with `all`, then current agents, then corrupt entries. */
export async function listRows(l: Layout, all: boolean): Promise<AgentRow[]> {
  const report = await sweep(l, { busyOk: true });
  if (report.unwritable) warnUnwritable(report.unwritable);
  if (report.busy) warnBusy(report.busy);
  const current = rowsOfEntries(report.kept);
  const corrupt: AgentRow[] = report.corrupt.map((c) => ({
    id: c.id ?? c.name, state: "corrupt", pgid: null, argv: [], cwd: null, startedAt: null, endedAt: null, exitCode: null, signal: null, reason: c.reason,
  }));
  return withSupervisor([...(all ? readHistory(l.history).map(rowOfHistory) : []), ...current, ...corrupt], readSupervisor(l));
}

export default defineCommand({
  meta: { name: "ps", description: "List agents: id, state, pgid, containment tier (cgroup or group), started, uptime, exit, command" },
  args: {
    all: { type: "boolean", alias: "a", description: "Include finished agents from history" },
    ...jsonArg,
    ...globalArgs,
  },
  async run({ args }) {
    const l = layoutFrom(args);
    const rows = await listRows(l, Boolean(args.all));
    if (args.json) {
      writeJson(rows.map((r) => (r.state === "corrupt" ? r : withDetails(r, l))));
      return;
    }
    // The header even when empty, and a word about what finished lately, so a quick failure is not invisible.
    writeOut(renderTable(rows, Date.now(), useColor(1), outputWidth()));
    const recent = args.all ? 0 : countEndedSince(l.history, Date.now() - RECENT_MS);
    if (recent) writeOut(`(${recent} agent${recent === 1 ? "" : "s"} finished in the last hour: kraal ps -a)\n`);
  },
});
