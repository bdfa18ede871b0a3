import { KraalError, UnknownAgentError } from "../base/errors.ts";
import type { ExitStatus } from "../base/exit-status.ts";
import { lastRun as lastRecorded } from "./history.ts";
import { inspect } from "../handle/inspect.ts";
import { endOf, endOrphan, isRetirable, retireIfPossible } from "./retire.ts";
import type { Layout } from "../handle/state.ts";

/** Polling starts at 2 ms and backs off to this, so short agents are seen ending promptly. */
const MAX_POLL_MS = 25;
/** A run that ended without an exit record was killed; its killer records it within this. */
const KILLER_RECORD_MS = 3000;

function lastRun(l: Layout, id: string): ExitStatus | null {
  const h = lastRecorded(l.history, id);
  return h ? { exitCode: h.exitCode, signal: h.signal } : null;
}

/**
 * Waits until agent `id` ends and returns how it ended (from its exit record, or from history
 * when it was killed or already retired), or "timeout". Polls with a deadline on the monotonic
 * clock. An agent that ended while nobody was watching is retired to history on the way.
 */
export async function waitForEnd(l: Layout, id: string, name: string, opts: { timeoutMs: number; now?: () => number }): Promise<ExitStatus | "timeout"> {
  const now = opts.now ?? (() => performance.now());
  const deadline = now() + opts.timeoutMs;
  let endedAt: number | null = null;
  let wait = 2;
  for (;;) {
    const e = inspect(l, name);
    const v = e.verdict;
    if (e.read.kind === "missing") {
      const past = lastRun(l, id);
      if (past) return past;
      throw new UnknownAgentError(id);
    }
    if (v.exit) return v.exit;
    if (v.state === "corrupt" || v.state === "foreign") {
      throw new KraalError("E_REFUSED", `cannot wait for ${JSON.stringify(id)}: its handle is ${v.state} (${v.reason})`, { facts: { id } });
    }
    if (v.orphaned) {
      // Its wrapper was killed alone: nobody will record the end, so end it now (as the sweep would).
      const history = endOrphan(e);
      if (history) {
        await retireIfPossible(l, [{ entry: e, history }]);
        return { exitCode: history.exitCode, signal: history.signal };
      }
    }
    if (isRetirable(v)) {
      // Ended without an exit record: killed. Give the killer a moment to record how, then record it ourselves.
      endedAt ??= now();
      if (now() - endedAt > KILLER_RECORD_MS) {
        const history = endOf(e);
        if (history) await retireIfPossible(l, [{ entry: e, history }]);
      }
    }
    if (now() >= deadline) return "timeout";
    await Bun.sleep(Math.min(wait, Math.max(0, deadline - now())));
    wait = Math.min(wait * 2, MAX_POLL_MS);
  }
}
