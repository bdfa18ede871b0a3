import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, readFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WRAPPER_NAME, WRAPPER_SCRIPT } from "../src/wrapper.ts";
import { killTracked, track, waitUntil } from "./helpers.ts";

afterEach(killTracked);

function startWrapper(dir: string, argv: string[]) {
  const p = Bun.spawn(["/bin/sh", "-c", WRAPPER_SCRIPT, WRAPPER_NAME, join(dir, "exit"), "0.200", ...argv], {
    detached: true,
    stdio: ["ignore", "ignore", "ignore", "pipe"],
  });
  track(p.pid);
  return { proc: p, go: p.stdio[3] as unknown as number };
}

describe("the wrapper", () => {
  test("if the spawner dies before the go-ahead, the agent never starts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corral-wrap-"));
    const { proc, go } = startWrapper(dir, ["sh", "-c", `touch ${dir}/ran`]);
    closeSync(go); // what the kernel does for a spawner that dies
    expect(await proc.exited).toBe(125);
    expect(existsSync(join(dir, "ran"))).toBe(false);
    expect(existsSync(join(dir, "exit"))).toBe(false);
  });

  test("after the go-ahead it runs the agent and records its status with its own pid", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corral-wrap-"));
    const { proc, go } = startWrapper(dir, ["sh", "-c", "exit 9"]);
    writeSync(go, "go\n");
    closeSync(go);
    await proc.exited;
    expect(readFileSync(join(dir, "exit"), "utf8")).toBe(`${proc.pid} 9\n`);
  });

  test("survives a TERM aimed at it alone, so it lives exactly as long as its agent", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corral-wrap-"));
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
});
