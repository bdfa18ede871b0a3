import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";

/** Runs writeOut(text) in a child whose stdout is `sh -c reader`'s input; returns what arrived. */
function throughPipe(code: string, reader: string): { out: Buffer; stderr: string; status: number | null } {
  const script = `import { writeOut } from ${JSON.stringify(join(ROOT, "src/cli/output.ts"))}; ${code}`;
  const r = Bun.spawnSync(["sh", "-c", `"$0" -e "$1" | ${reader}`, process.execPath, script], { stdout: "pipe", stderr: "pipe" });
  return { out: r.stdout, stderr: r.stderr.toString(), status: r.exitCode };
}

describe("writeOut", () => {
  test("writes a large text whole and byte-exact, multibyte characters included, through a slow reader", () => {
    const line = "añ€😀 \u0007 plain ascii\n";
    const r = throughPipe(`writeOut(${JSON.stringify(line)}.repeat(40000))`, "{ sleep 0.2; cat; }");
    expect(r.stderr).toBe("");
    expect(r.out.equals(Buffer.from(line.repeat(40000)))).toBe(true);
  }, 20_000);

  test("on a non-blocking stdout whose reader is slow, short writes and EAGAIN lose no byte and burn no CPU waiting", () => {
    const line = "añ€😀 plain ascii\n";
    // fcntl(1, F_SETFL, flags | O_NONBLOCK) through bun:ffi (Linux numbers: F_GETFL 3, F_SETFL 4, O_NONBLOCK 0o4000).
    const setup = `const { symbols: c } = require("bun:ffi").dlopen("libc.so.6", { fcntl: { args: ["i32", "i32", "i32"], returns: "i32" } }); c.fcntl(1, 4, c.fcntl(1, 3, 0) | 0o4000);`;
    const r = throughPipe(`${setup} writeOut(${JSON.stringify(line)}.repeat(60000)); const u = process.cpuUsage(); console.error(Math.round((u.user + u.system) / 1000));`, "{ sleep 0.5; cat; }");
    expect(r.out.equals(Buffer.from(line.repeat(60000)))).toBe(true);
    // A busy loop on EAGAIN would spend the reader's half second on the CPU.
    expect(Number(r.stderr.trim())).toBeLessThan(250);
  }, 20_000);

  test("stops quietly when the reader has gone (EPIPE), with no error", () => {
    const r = throughPipe(`writeOut("x".repeat(1 << 20)); writeOut("more\\n")`, "head -c 1");
    expect(r.out.toString()).toBe("x");
    expect(r.stderr).toBe("");
  }, 20_000);
});
