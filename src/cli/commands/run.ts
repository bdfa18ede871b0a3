import { defineCommand } from "../command.ts";
import { SYNOPSIS } from "../help.ts";
import { resolve } from "node:path";
import { Attached } from "../../supervise/attached.ts";
import { parseDuration } from "../../base/duration.ts";
import { KraalError, UsageError } from "../../base/errors.ts";
import { signalNumber, toShellStatus } from "../../base/exit-status.ts";
import { becomeSubreaper } from "../../sys/libc.ts";
import { log } from "../output.ts";
import { agentEnv, spawnAgent } from "../../lifecycle/spawner.ts";
import { sweep } from "../../lifecycle/sweep.ts";
import { DEFAULT_GRACE_MS } from "../../lifecycle/terminate.ts";
import { validateId } from "../../handle/id.ts";
import { TerminalRelay } from "../../supervise/terminal.ts";
import { isTerminal, ownsTerminal } from "../../sys/tty.ts";
import { commandArgv, globalArgs, layoutFrom } from "./_shared.ts";

export const TIMEOUT_STATUS = 124;
/** What `run` exits with when kraal itself failed (timeout(1)'s convention). */
export const OWN_FAILURE = 125;

export default defineCommand({
  meta: { name: "run", description: "Run CMD attached, as an owned agent; end whatever it leaves behind; exit with its status" },
  args: {
    name: { type: "string", description: "Agent id shown by kraal ps (default: run-<pid>)", valueHint: "ID" },
    timeout: { type: "string", description: "Stop CMD after this long (TERM, grace, KILL) and exit 124", valueHint: "DURATION" },
    grace: { type: "string", description: "How long to wait after a signal before SIGKILL", default: "300ms", valueHint: "DURATION" },
    tty: { type: "boolean", description: "Give CMD a terminal when kraal runs in one (--no-tty: plain stdio)", default: true },
    ...globalArgs,
  },
  async run({ args }) {
    const argv = commandArgv();
    if (!argv || argv.length === 0) throw new UsageError("no command given", `usage: kraal ${SYNOPSIS.run!.usage}`);
    if (args._.length) throw new UsageError(`unexpected argument ${JSON.stringify(args._[0])} before --`);
    const id = args.name ?? `run-${process.pid}`;
    validateId(id);
    const graceMs = args.grace === undefined ? DEFAULT_GRACE_MS : parseDuration(args.grace, "--grace");
    const timeoutMs = args.timeout === undefined ? null : parseDuration(args.timeout, "--timeout");
    const l = layoutFrom(args);
    const cwd = resolve(process.cwd());
    becomeSubreaper();
    await sweep(l);
    // In a terminal, the agent gets one of its own (a pty relayed to ours), as under a shell. Run
    // as a background job (`kraal run ... &`), it gets none and, as POSIX sh gives an asynchronous
    // command, /dev/null for stdin: taking the terminal from there would stop kraal (SIGTTOU) at
    // once, and the keys typed belong to the shell in the foreground.
    const inTerminal = isTerminal(0);
    const background = inTerminal && !ownsTerminal(0);
    const relay = args.tty !== false && inTerminal && isTerminal(1) && !background ? new TerminalRelay() : null;
    let started;
    try {
      started = await spawnAgent(l, {
        id, argv, cwd, graceMs, mode: "run",
        env: agentEnv(process.env, { KRAAL_AGENT_ID: id }),
        attached: { stdin: background ? "ignore" : "inherit", stdout: "inherit", stderr: "inherit", ...(relay ? { terminal: relay.spec } : {}) },
      });
    } catch (e) {
      if (e instanceof KraalError && e.code === "E_NOT_FOUND") throw new KraalError(e.code, e.message, { exitCode: 127 });
      if (e instanceof KraalError && e.code === "E_NOT_EXECUTABLE") throw new KraalError(e.code, e.message, { exitCode: 126 });
      throw e;
    }
    if (relay && started.proc.terminal) relay.attach(started.proc.terminal);
    const agent = new Attached(l, started, graceMs);
    const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((sig) => {
      const h = () => agent.stop(sig);
      process.on(sig, h);
      return [sig, h] as const;
    });
    const timer = timeoutMs === null ? null : setTimeout(() => agent.stop("timeout"), timeoutMs);
    const end = await agent.done;
    await relay?.restore();
    if (timer) clearTimeout(timer);
    for (const [sig, h] of handlers) process.off(sig, h);

    const stop = agent.stopRequested;
    if (end.stuck) {
      log().error(`${argv[0]} left processes in group ${agent.pgid} that did not die after SIGKILL; its handle is kept`);
      process.exitCode = OWN_FAILURE;
      return;
    }
    if (end.leaked) {
      const how = end.leftovers?.forced ? "SIGKILL after the grace" : "SIGTERM";
      const where = started.handle.tier === "cgroup" ? "cgroup" : "group";
      log().warn(`${argv[0]} exited but left processes running in its ${where}; ended them (${how})`);
    }
    if (stop === "timeout") {
      log().warn(`${argv[0]} timed out after ${args.timeout}`);
      process.exitCode = TIMEOUT_STATUS;
    } else if (stop) {
      process.exitCode = 128 + (signalNumber(stop) ?? 15); // as a shell reports death by that signal
    } else {
      process.exitCode = toShellStatus(end.status) ?? OWN_FAILURE;
    }
  },
});
