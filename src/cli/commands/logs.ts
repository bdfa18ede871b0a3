import { closeSync, lstatSync } from "node:fs";
import { defineCommand } from "../command.ts";
import { UnknownAgentError, UsageError } from "../../base/errors.ts";
import { encodeId } from "../../handle/id.ts";
import { followLog, logPath, printLog, type ByteSink } from "../../lifecycle/logs.ts";
import { awaitLogWriter } from "../../lifecycle/log-files.ts";
import { useColor, writeBytes } from "../output.ts";
import { checkedId, globalArgs, layoutFrom } from "./_shared.ts";
import { inspect } from "../../handle/inspect.ts";
import { hasRun } from "../../lifecycle/history.ts";
import type { Layout } from "../../handle/state.ts";
import { readSupervisor } from "../../supervise/supervisor.ts";
import { linePrefix } from "../../supervise/prefix.ts";
import { loggedIds, PrefixedLines, printAll } from "../log-lines.ts";

/** How long `-f` waits, once an agent of a running `up` has ended, for up to start it again. */
const RESTART_SETTLE_MS = 1500;

export default defineCommand({
  meta: { name: "logs", description: "Print an agent's stdout+stderr (every agent's, prefixed, without ID); -f follows" },
  args: {
    id: { type: "positional", description: "Agent id; without it, every agent's log, each line prefixed 'ID | '", required: false, valueHint: "ID" },
    follow: { type: "boolean", alias: "f", description: "Keep printing new output: until the agent ends (under up: until up stops restarting it); without ID, until interrupted" },
    lines: { type: "string", alias: "n", description: "Only the last N lines (of each log)", valueHint: "N" },
    timestamps: { type: "boolean", alias: "t", description: "Prefix each line with the time: when read (-f), or the log's last write for lines already in it" },
    previous: { type: "boolean", description: "The previous run's log (the run before the current one is kept)" },
    ...globalArgs,
  },
  async run({ args }) {
    const l = layoutFrom(args);
    let lines: number | undefined;
    if (args.lines !== undefined) {
      if (!/^\d+$/.test(args.lines)) throw new UsageError(`-n ${JSON.stringify(args.lines)}: expected a number of lines`);
      lines = Number(args.lines);
    }
    const timestamps = Boolean(args.timestamps);
    if (args.id === undefined || args.id === "") {
      if (args.previous) throw new UsageError("--previous needs an agent id");
      return logsOfAll(l, { lines, follow: Boolean(args.follow), timestamps });
    }
    const id = checkedId(args.id);
    const name = encodeId(id);
    const path = logPath(l, name, args.previous);
    // Streamed byte for byte through one 64 KiB buffer: constant memory, exact bytes. With -t the
    // bytes go through a line splitter that prefixes each line (still never decoded).
    const stamped = timestamps ? new PrefixedLines(writeBytes, (at) => linePrefix([], { width: 0, color: false, timestamps: true })("", at)) : null;
    let stampAt = new Date();
    try {
      stampAt = lstatSync(path).mtime; // no per-line time is kept: lines already in the log carry its last write
    } catch {}
    const sink: ByteSink = stamped ? (c) => stamped.push(c, stampAt) : writeBytes;
    // An agent that has ended: its log writer may still be writing its last bytes (at most 2 s).
    if (!args.previous && inspect(l, name).verdict.state !== "running") await awaitLogWriter(l, name);
    const at = printLog(path, sink, lines);
    if (at === null) {
      const known = inspect(l, name).read.kind !== "missing" || hasRun(l.history, id);
      if (!known) throw new UnknownAgentError(id);
    }
    if (args.follow && !args.previous) {
      const followSink: ByteSink = stamped ? (c) => stamped.push(c, new Date()) : writeBytes;
      await followLog(l, name, path, at, followSink, followsRestarts(l, id, name));
    } else if (at) closeSync(at.log.fd);
    stamped?.end();
  },
});

/**
 * While to go on following one agent: while its handle runs, and, when a running `up` supervises
 * it, until up has left it ended (exited, failed, stopped) for RESTART_SETTLE_MS, so a restart by
 * its policy or by `kraal restart` (a stop, then a start) is followed into the new run.
 */
function followsRestarts(l: Layout, id: string, name: string): () => boolean {
  let endedSince: number | null = null;
  return () => {
    if (inspect(l, name).verdict.state === "running") {
      endedSince = null;
      return true;
    }
    const up = readSupervisor(l);
    const state = up?.alive ? up.record.agents[id]?.state : undefined;
    if (state === undefined) return false; // not up's: it has ended
    if (state === "starting" || state === "waiting" || state === "backoff" || state === "running") {
      endedSince = null;
      return true;
    }
    endedSince ??= Date.now();
    return Date.now() - endedSince < RESTART_SETTLE_MS;
  };
}

async function logsOfAll(l: Layout, opts: { lines?: number; follow: boolean; timestamps: boolean }): Promise<void> {
  const ids = loggedIds(l);
  const prefix = linePrefix(ids, { width: Math.max(0, ...ids.map((id) => id.length)), color: useColor(1), timestamps: opts.timestamps });
  let stop = false;
  if (opts.follow) for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => (stop = true));
  await printAll(l, writeBytes, (id) => (at) => prefix(id, at), { tail: opts.lines, follow: opts.follow, stop: () => stop });
}
