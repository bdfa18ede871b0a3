import { lstatSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { KraalError } from "../base/errors.ts";
import { parseStopSignal, type StopSignalName } from "../base/exit-status.ts";
import type { Layout } from "../handle/state.ts";

/**
 * The control channel of a running `kraal up`: a Unix socket beside its supervisor record, in the
 * state directory (private to the user). `kraal stop/start/restart` and `kraal kill` of an agent
 * that `up` supervises send one request and read one reply, so `up` itself stops and starts its
 * agents and never mistakes an explicit stop for a crash to restart.
 */
export const controlPath = (l: Layout) => join(l.root, "supervisor.sock");

export type ControlOp = "stop" | "start" | "restart";

export interface ControlRequest {
  op: ControlOp;
  ids: string[];
  signal?: StopSignalName;
  graceMs?: number;
}

export interface ControlResult {
  id: string;
  /** "stopped", "killed", "already stopped", "started", "restarted", "already running", or "unknown". */
  result: string;
  /** stop: the signal sent first, and the group that was stopped; start/restart: the new group. */
  signal?: StopSignalName;
  pgid?: number;
  elapsedMs?: number;
  /** stop of an agent with no process (backing off, waiting for its dependencies): the state it was in. */
  was?: string;
  error?: string;
}

/** Requests are one JSON line; anything longer than this is not one of ours. */
const MAX_REQUEST_BYTES = 64 * 1024;

/** How long closing the control socket waits for answers still being worked out (a start that failed as up ends). */
const CLOSE_DRAIN_MS = 2000;

/**
 * Listens on the control socket and answers each request with `handle`'s results. A socket left by
 * a crashed `up` is replaced (only a socket: anything else there is refused, never deleted).
 * Returns a function that lets answers under way be sent (briefly), then stops listening and
 * removes the socket: a `kraal start` whose agent could not start, which may be what ends `up`,
 * still learns why.
 */
export function serveControl(l: Layout, handle: (req: ControlRequest) => Promise<ControlResult[]>): () => Promise<void> {
  const path = controlPath(l);
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st && !st.isSocket()) throw new KraalError("E_STATE", `${path} exists and is not a socket; move it aside`, { facts: { path } });
  if (st) unlinkSync(path);
  const answering = new Set<Promise<unknown>>();
  const server = Bun.listen<{ buf: string }>({
    unix: path,
    socket: {
      open(s) {
        s.data = { buf: "" };
      },
      data(s, chunk) {
        s.data.buf += chunk.toString();
        if (s.data.buf.length > MAX_REQUEST_BYTES) return void s.end();
        const nl = s.data.buf.indexOf("\n");
        if (nl < 0) return;
        let req: ControlRequest;
        try {
          req = parseRequest(s.data.buf.slice(0, nl));
        } catch (e) {
          return void s.end(`${JSON.stringify({ error: (e as Error).message })}\n`);
        }
        const answer = handle(req).then(
          (results) => void s.end(`${JSON.stringify({ results })}\n`),
          (e) => void s.end(`${JSON.stringify({ error: (e as Error).message })}\n`),
        );
        answering.add(answer);
        void answer.finally(() => answering.delete(answer));
      },
    },
  });
  return async () => {
    if (answering.size) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([Promise.allSettled([...answering]), new Promise((done) => (timer = setTimeout(done, CLOSE_DRAIN_MS)))]);
      clearTimeout(timer);
    }
    server.stop(true);
    try {
      unlinkSync(path);
    } catch {}
  };
}

function parseRequest(line: string): ControlRequest {
  const o = JSON.parse(line) as Partial<ControlRequest>;
  if (o.op !== "stop" && o.op !== "start" && o.op !== "restart") throw new Error("unknown op");
  if (!Array.isArray(o.ids) || !o.ids.every((x) => typeof x === "string")) throw new Error("ids must be strings");
  const signal = o.signal === undefined ? undefined : (parseStopSignal(String(o.signal)) ?? undefined);
  if (o.signal !== undefined && !signal) throw new Error("unknown signal");
  const graceMs = typeof o.graceMs === "number" && Number.isFinite(o.graceMs) && o.graceMs >= 0 ? o.graceMs : undefined;
  return { op: o.op, ids: o.ids, signal, graceMs };
}

/** Sends one request to the running `up` and waits for its reply (at most `timeoutMs`). */
export async function sendControl(l: Layout, req: ControlRequest, timeoutMs: number): Promise<ControlResult[]> {
  const path = controlPath(l);
  let buf = "";
  let done!: (v: string) => void;
  let fail!: (e: Error) => void;
  const reply = new Promise<string>((res, rej) => ((done = res), (fail = rej)));
  reply.catch(() => {}); // a failed connect rejects it before anyone awaits it; the error is thrown below
  const unreachable = (why: string) => new KraalError("E_CONTROL", `cannot reach kraal up through ${path}: ${why}`, { hint: "is kraal up still running? see: kraal ps" });
  const timer = setTimeout(() => fail(unreachable(`no answer within ${timeoutMs}ms`)), timeoutMs);
  try {
    await Bun.connect({
      unix: path,
      socket: {
        open: (s) => void s.write(`${JSON.stringify(req)}\n`),
        data: (_s, chunk) => void (buf += chunk.toString()),
        close: () => done(buf),
        error: (_s, e) => fail(unreachable(e.message)),
        connectError: (_s, e) => fail(unreachable(e.message)),
      },
    });
    const text = await reply;
    const o = JSON.parse(text || "{}") as { results?: ControlResult[]; error?: string };
    if (!o.results) throw new KraalError("E_CONTROL", `kraal up refused the request: ${o.error ?? "no answer"}`);
    return o.results;
  } catch (e) {
    if (e instanceof KraalError) throw e;
    throw unreachable((e as Error).message);
  } finally {
    clearTimeout(timer);
  }
}
