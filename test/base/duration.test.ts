import { describe, expect, test } from "bun:test";
import { formatDuration, parseDuration } from "../../src/base/duration.ts";

describe("durations", () => {
  test("accept ms, s, m, h and bare seconds", () => {
    expect(parseDuration("300ms")).toBe(300);
    expect(parseDuration("5s")).toBe(5000);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("2m")).toBe(120_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("7")).toBe(7000);
  });

  test("reject anything else, naming the flag", () => {
    for (const bad of ["", "5x", "-1s", "s", "1e3", "5 s s", "1.s", "Infinity", "0x10"]) {
      expect(() => parseDuration(bad, "--grace")).toThrow("--grace: ");
    }
    expect(() => parseDuration("999999h")).toThrow("too long");
    // Config files name the key themselves: no flag that does not exist is mentioned.
    expect(() => parseDuration("zz")).toThrow(/^"zz" is not a duration$/);
  });

  test("every generated value round-trips through its unit", () => {
    for (let n = 0; n < 2000; n += 7) {
      expect(parseDuration(`${n}ms`)).toBe(n);
      expect(parseDuration(`${n}s`)).toBe(n * 1000);
    }
  });

  test("format compactly for people", () => {
    expect(formatDuration(850)).toBe("850ms");
    expect(formatDuration(12_000)).toBe("12s");
    expect(formatDuration(184_000)).toBe("3m04s");
    expect(formatDuration(2 * 3_600_000 + 5 * 60_000)).toBe("2h05m");
    expect(formatDuration(76 * 3_600_000)).toBe("3d04h");
  });
});
