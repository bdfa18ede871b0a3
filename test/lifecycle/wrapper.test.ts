import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, readFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WRAPPER_NAME, wrapperArgv, wrapperEnv } from "../../src/lifecycle/wrapper.ts";
import { createFresh } from "../../src/sys/safe-fs.ts";
import { isDeadOrZombie, killTracked, track, waitUntil } from "../helpers.ts";

afterEach(killTracked);

function startWrapper(dir: string, argv: string[], mode: "detached" | "attached" = "detached") {
  const exitFd = createFresh(join(dir, "exit"));
  const p = Bun.spawn(wrapperArgv("w", join(dir, "exit"), "0.200", mode, "", argv), {
    argv0: WRAPPER_NAME,
    env: wrapperEnv(undefined),
    detached: true,
    stdio: ["ignore", "ignore", "ignore", "pipe", "pipe", "ignore", exitFd] as unknown as ["ignore", "ignore", "ignore", "pipe", "pipe"],
  });
  closeSync(exitFd);
  track(p.pid);
  return { proc: p, go: p.stdio[3] as unknown as number, death: p.stdio[4] as unknown as number };
}

describe("the wrapper", () => {
  test("if the spawner dies before the go-ahead, the agent never starts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kraal-wrap-"));
    const { proc, go } = startWrapper(dir, ["sh", "-c", `touch ${dir}/ran`]);
    closeSync(go); // what the kernel does for a spawner that dies
    expect(await proc.exited).toBe(125);
    expect(existsSync(join(dir, "ran"))).toBe(false);
    expect(readFileSync(join(dir, "exit"), "utf8")).toBe(""); // no record: kraal's empty file stays empty
  });

  test("after the go-ahead it runs the agent and records its status with its own pid", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kraal-wrap-"));
    const { proc, go } = startWrapper(dir, ["sh", "-c", "exit 9"]);
    writeSync(go, "go\n");
    closeSync(go);
    await proc.exited;
    expect(readFileSync(join(dir, "exit"), "utf8")).toBe(`${proc.pid} 9\n`);
  });

  test("survives a TERM aimed at it alone, so it lives exactly as long as its agent", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kraal-wrap-"));
    const { proc, go } = startWrapper(dir, ["sh", "-c", `echo $$ > ${dir}/agent; exec sleep 1000`]);
    writeSync(go, "go\n");
    closeSync(go);
    const agent = Number(await waitUntil(() => existsSync(join(dir, "agent")) && readFileSync(join(dir, "agent"), "utf8").trim()));
    process.kill(proc.pid, "SIGTERM");
    // Still alive while its agent runs; ends once the agent is killed.
    await Bun.sleep(50);
    expect(proc.exitCode).toBeNull();
    process.kill(agent, "SIGTERM");
    await proc.exited;
    expect(readFileSync(join(dir, "exit"), "utf8")).toBe(`${proc.pid} 143\n`);
  });

  test("attached: exits with the agent's status, leaving leftovers to its supervisor", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kraal-wrap-"));
    const { proc, go } = startWrapper(dir, ["sh", "-c", "exit 4"], "attached");
    writeSync(go, "go\n");
    closeSync(go);
    expect(await proc.exited).toBe(4);
  });

  test("attached: when the supervisor's pipe closes, the whole group dies, TERM-ignoring members included", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kraal-wrap-"));
    const { proc, go, death } = startWrapper(dir, ["sh", "-c", `trap '' TERM; echo $$ > ${dir}/agent; while :; do sleep 1; done`], "attached");
    writeSync(go, "go\n");
    closeSync(go);
    const agent = Number(await waitUntil(() => existsSync(join(dir, "agent")) && readFileSync(join(dir, "agent"), "utf8").trim()));
    closeSync(death); // what the kernel does when the supervisor is SIGKILLed
    expect(proc.signalCode ?? (await proc.exited, proc.signalCode)).toBe("SIGKILL");
    // The orphaned agent is PID 1's to reap, which may take a while: dead or zombie is what counts.
    await waitUntil(() => isDeadOrZombie(agent), { what: "the TERM-ignoring agent to die", timeoutMs: 3000 });
  });
});
