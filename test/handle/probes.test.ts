import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { assertSignalableGroup, ownPgid, parseStat, probeGroup, readBootId, readHostname, readStat } from "../../src/handle/probes.ts";

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

  test("the host name read from /proc is gethostname's (os.hostname), and a proc root without it falls back to that", () => {
    expect(readHostname()).toBe(hostname());
    const root = mkdtempSync(join(tmpdir(), "kraal-proc-"));
    expect(readHostname(root)).toBe(hostname());
    mkdirSync(join(root, "sys/kernel"), { recursive: true });
    writeFileSync(join(root, "sys/kernel/hostname"), "box.example\n");
    expect(readHostname(root)).toBe("box.example");
  });

  test("the host name follows this process's UTS namespace, as gethostname does", () => {
    const probes = join(import.meta.dir, "../../src/handle/probes.ts");
    const code = `import { readHostname } from ${JSON.stringify(probes)}; import { hostname } from "node:os"; console.log(readHostname(), hostname());`;
    const r = Bun.spawnSync(["unshare", "--uts", "sh", "-c", 'hostname kraal-uts-test && exec "$0" -e "$1"', process.execPath, code], { stderr: "pipe" });
    if (r.exitCode !== 0 && /Operation not permitted|unshare failed/.test(r.stderr.toString())) return; // no namespaces for this user
    expect(r.stdout.toString().trim()).toBe("kraal-uts-test kraal-uts-test");
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

describe("parseStat against the split-based parser it replaced (83e6d36)", () => {
  /** The old parser, kept here as the reference: split everything after the last ')' on single spaces. */
  function reference(text: string) {
    const open = text.indexOf("(");
    const close = text.lastIndexOf(")");
    if (open < 0 || close < open) return null;
    const f = text.slice(close + 2, text.endsWith("\n") ? -1 : undefined).split(" ");
    if (f.length < 20) return null;
    const pgrp = Number(f[2]);
    const startTicks = Number(f[19]);
    if (!/^[A-Za-z]$/.test(f[0]!) || !Number.isSafeInteger(pgrp) || !Number.isSafeInteger(startTicks)) return null;
    return { comm: text.slice(open + 1, close), state: f[0]!, pgrp, startTicks, cpuTicks: Number(f[11]) + Number(f[12]) || 0, rssPages: Number(f[21]) || 0 };
  }
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed / 0x7fffffff);
  const pick = <T>(a: T[]) => a[Math.floor(rnd() * a.length)]!;
  const nameChars = ["a", " ", "(", ")", "\n", "1", "Z", "\t"];
  const odd = ["", "-1", "1e3", "0x10", "+5", "1.5", "ab", "\n", "18446744073709551615", "9007199254740993"];

  test("well-formed lines (any name, any count of fields from 20, trailing newline or not): the same result", () => {
    for (let i = 0; i < 20_000; i++) {
      const comm = Array.from({ length: Math.floor(rnd() * 8) }, () => pick(nameChars)).join("");
      const fields = Array.from({ length: 20 + Math.floor(rnd() * 32) }, (_, k) => (k === 0 ? pick(["S", "Z", "R", "D", "t"]) : String(Math.floor(rnd() * 1e6))));
      const text = `${i} (${comm}) ${fields.join(" ")}${pick(["\n", ""])}`;
      expect(parseStat(text)).toEqual(reference(text));
    }
  });

  test("malformed lines (short, doubled or missing separators, odd numbers): never accepted where the old one refused, never read differently", () => {
    for (let i = 0; i < 20_000; i++) {
      const comm = Array.from({ length: Math.floor(rnd() * 6) }, () => pick(nameChars)).join("");
      const fields = Array.from({ length: Math.floor(rnd() * 26) }, () => (rnd() < 0.7 ? String(Math.floor(rnd() * 1000)) : pick(odd)));
      const text = `${i} (${comm})${pick([" ", "", "  ", "x"])}${fields.join(pick([" ", " ", "  ", "\t"]))}${pick(["\n", "", " ", " \n", "\n\n"])}`;
      const now = parseStat(text);
      if (now !== null) expect(now).toEqual(reference(text)!);
    }
  });
});
