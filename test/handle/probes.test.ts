import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertSignalableGroup, ownPgid, parseStat, probeGroup, readBootId, readStat } from "../../src/handle/probes.ts";

const statLine = (comm: string, state = "S", pgrp = 4242, start = 987654) =>
  `4242 (${comm}) ${state} 1 ${pgrp} ${pgrp} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 ${start} 1000 100 18446744073709551615\n`;

describe("/proc/<pid>/stat parsing", () => {
  test("reads state, group and start time after the last parenthesis, and the name between the first and the last", () => {
    for (const comm of ["sleep", "a b", "x) S 1 2 3", "((", ")", "evil) Z 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "kraal-ended"]) {
      expect(parseStat(statLine(comm))).toEqual({ comm, state: "S", pgrp: 4242, startTicks: 987654, cpuTicks: 3, rssPages: 100 });
    }
    expect(parseStat(statLine("zombie", "Z"))?.state).toBe("Z");
  });

  test("rejects malformed text instead of guessing", () => {
    expect(parseStat("")).toBeNull();
    expect(parseStat("4242 noparens S 1")).toBeNull();
    expect(parseStat("4242 (x) S 1 2")).toBeNull();
    expect(parseStat(statLine("x").replace("987654", "notanumber"))).toBeNull();
  });

  test("reads a fake proc root, and the real one for this process", () => {
    const root = mkdtempSync(join(tmpdir(), "kraal-proc-"));
    mkdirSync(join(root, "77"));
    writeFileSync(join(root, "77/stat"), statLine("fake", "R", 77, 5));
    mkdirSync(join(root, "sys/kernel/random"), { recursive: true });
    writeFileSync(join(root, "sys/kernel/random/boot_id"), "abc\n");
    expect(readStat(77, root)).toEqual({ comm: "fake", state: "R", pgrp: 77, startTicks: 5, cpuTicks: 3, rssPages: 100 });
    expect(readStat(78, root)).toBeNull();
    expect(readBootId(root)).toBe("abc");
    expect(readStat(process.pid)?.state).toMatch(/[RS]/);
  });
});

describe("signal guard", () => {
  test("never lets pgid <= 1, non-integers or our own group through", () => {
    for (const bad of [0, 1, -1, -5, 1.5, NaN, Infinity, 5_000_000, ownPgid()]) {
      expect(() => assertSignalableGroup(bad)).toThrow("refusing");
      expect(() => probeGroup(bad)).toThrow("refusing");
    }
  });

  test("kill(-pgid, 0): ESRCH is gone, EPERM is alive-but-not-ours", () => {
    const esrch = Object.assign(new Error("x"), { code: "ESRCH" });
    const eperm = Object.assign(new Error("x"), { code: "EPERM" });
    expect(probeGroup(999_999, () => { throw esrch; })).toBe("gone");
    expect(probeGroup(999_999, () => { throw eperm; })).toBe("eperm");
    expect(probeGroup(999_999, () => true)).toBe("alive");
  });
});
