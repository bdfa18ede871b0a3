import { describe, expect, test } from "bun:test";
import { appendFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { BIN, kraal, spawnOk, useTempState } from "../helpers.ts";

const t = useTempState();
const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });

/** Runs kraal with its stdout as raw bytes (never decoded by the test either). */
function rawOut(...args: string[]): Buffer {
  const r = Bun.spawnSync([BIN, ...args], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  if (r.exitCode !== 0) throw new Error(`kraal ${args.join(" ")} failed (${r.exitCode}): ${r.stderr}`);
  return Buffer.from(r.stdout);
}

// \xe2\x82 then \xac: a euro sign written in two writes (split across reads too); \xff\xfe and
// a lone \x80 are invalid UTF-8, and must come back as they are, not as U+FFFD.
const SCRIPT = String.raw`printf 'a\342\202'; sleep 0.2; printf '\254b\n'; printf '\377\376 \200\n'; sleep 0.2; printf 'last\342'`;
const EXPECTED = Buffer.from([0x61, 0xe2, 0x82, 0xac, 0x62, 0x0a, 0xff, 0xfe, 0x20, 0x80, 0x0a, ...Buffer.from("last"), 0xe2]);

describe("logs: exact bytes, constant memory", () => {
  test("invalid UTF-8 and split characters come back unchanged, also with -n and -f", () => {
    spawnOk(t, "bytes", ["sh", "-c", SCRIPT]);
    // -f while it writes: every byte exactly once, in order.
    expect(rawOut("logs", "bytes", "-f").equals(EXPECTED)).toBe(true);
    expect(run("wait", "bytes").code).toBe(0);
    expect(rawOut("logs", "bytes").equals(EXPECTED)).toBe(true);
    expect(rawOut("logs", "bytes", "-n", "2").equals(EXPECTED.subarray(6))).toBe(true);
    expect(rawOut("logs", "bytes", "-n", "1").equals(Buffer.from([...Buffer.from("last"), 0xe2]))).toBe(true);
    expect(rawOut("logs", "bytes", "-n", "0").length).toBe(0);
  }, 30_000);

  test("a 1 GiB log streams through in constant memory; -n reads only the end", () => {
    spawnOk(t, "big", ["true"]);
    expect(run("wait", "big").code).toBe(0);
    expect(run("logs", "big").code).toBe(0); // its log writer is done (logs waits for it): nothing else writes the file now
    const log = join(t.layout.logs, "big.log");
    truncateSync(log, 1024 ** 3); // sparse: costs no disk
    appendFileSync(log, "x\ny\nz\n");
    const size = 1024 ** 3 + 6;
    const r = Bun.spawnSync(["sh", "-c", `/usr/bin/time -f %M -o "$1" "$0" logs big | wc -c; cat "$1"`, BIN, join(t.dir, "rss")], { env: t.env, cwd: t.dir, stdout: "pipe", timeout: 120_000 });
    const [bytes, rssKb] = r.stdout.toString().trim().split(/\s+/).map(Number);
    expect(bytes).toBe(size);
    console.log(`kraal logs of a 1 GiB log: max RSS ${Math.round(rssKb! / 1024)} MB`);
    expect(rssKb!).toBeLessThan(150 * 1024);
    const tail = Bun.spawnSync(["sh", "-c", `/usr/bin/time -f %e -o "$1" "$0" logs big -n 2; cat "$1" >&2`, BIN, join(t.dir, "time")], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
    expect(tail.stdout.toString()).toBe("y\nz\n");
    expect(Number(tail.stderr.toString().trim())).toBeLessThan(5);
  }, 180_000);
});
