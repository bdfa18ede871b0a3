/**
 * Readiness, as process-compose users expect it: an agent that others depend on counts as ready
 * when its check passes: a shell command exits 0, a TCP port accepts a connection, or a line of
 * its output contains a text. Polled with a deadline; never a fixed sleep.
 */
export type ReadyCheck = { cmd: string } | { port: number; host: string } | { log: string };

export interface ReadySpec {
  check: ReadyCheck;
  timeoutMs: number;
}

/** How long an agent may take to become ready by default. */
export const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** First poll after 50 ms, doubling to once a second: quick services are seen quickly. */
const FIRST_POLL_MS = 50;
const MAX_POLL_MS = 1000;
const LOG_POLL_MS = 20;
/** One run of a `cmd` check may take this long before it counts as a failed attempt. */
const ATTEMPT_TIMEOUT_MS = 10_000;

export type ReadyOutcome = "ready" | "timeout" | "ended";

export interface ReadyContext {
  cwd: string;
  env: Record<string, string>;
  /** Resolves when a line of the agent's output contains `text`. */
  lineContaining(text: string): Promise<void>;
  /** True once the agent has ended or a stop was requested: waiting is pointless. */
  ended(): boolean;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** One attempt of a command or port check: did it pass? */
async function attempt(check: Exclude<ReadyCheck, { log: string }>, ctx: ReadyContext): Promise<boolean> {
  if ("cmd" in check) {
    const p = Bun.spawn(["/bin/sh", "-c", check.cmd], { cwd: ctx.cwd, env: ctx.env, stdio: ["ignore", "ignore", "ignore"] });
    const timer = setTimeout(() => p.kill("SIGKILL"), ATTEMPT_TIMEOUT_MS); // our own child, not yet reaped: its pid is still ours
    const code = await p.exited;
    clearTimeout(timer);
    return code === 0;
  }
  return new Promise<boolean>((done) => {
    Bun.connect({
      hostname: check.host,
      port: check.port,
      socket: { open: (s) => (s.end(), done(true)), error: () => done(false), data: () => {}, connectError: () => done(false) },
    }).catch(() => done(false));
  });
}

/**
 * Waits until `spec`'s check passes ("ready"), its timeout runs out ("timeout"), or the agent ends
 * or is being stopped ("ended").
 */
export async function waitReady(spec: ReadySpec, ctx: ReadyContext): Promise<ReadyOutcome> {
  const now = ctx.now ?? (() => performance.now());
  const sleep = ctx.sleep ?? ((ms: number) => Bun.sleep(ms));
  const deadline = now() + spec.timeoutMs;
  const check = spec.check;
  let seen = false;
  if ("log" in check) void ctx.lineContaining(check.log).then(() => (seen = true));
  // A log check only looks at a flag the output sets: poll it often. Other checks cost a process
  // or a connection each: back off.
  const isLog = "log" in check;
  const next = (wait: number) => (isLog ? LOG_POLL_MS : Math.min(wait * 2, MAX_POLL_MS));
  for (let wait = isLog ? LOG_POLL_MS : FIRST_POLL_MS; ; wait = next(wait)) {
    if (ctx.ended()) return "ended";
    if ("log" in check ? seen : await attempt(check, ctx)) return ctx.ended() ? "ended" : "ready";
    if (now() >= deadline) return "timeout";
    await sleep(Math.min(wait, Math.max(0, deadline - now())));
  }
}

/** Describes a check for people: `pg_isready`, `port 5432`, `log "listening"`. */
export function describeCheck(c: ReadyCheck): string {
  return "cmd" in c ? c.cmd : "port" in c ? `port ${c.port}` : `log ${JSON.stringify(c.log)}`;
}
