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

  test("stops quietly when the reader has gone (EPIPE), with no error", () => {
    const r = throughPipe(`writeOut("x".repeat(1 << 20)); writeOut("more\\n")`, "head -c 1");
    expect(r.out.toString()).toBe("x");
    expect(r.stderr).toBe("");
  }, 20_000);
});
