import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countEndedSince } from "../../src/lifecycle/history.ts";

const HOUR = 3_600_000;
const now = Date.now();

/** One history line of a run that ended at `endedAt`, its argv padded to `pad` characters. */
const line = (i: number, endedAt: number, pad = 200) =>
  `${JSON.stringify({ v: 1, id: `a${i}`, pgid: 1000 + i, argv: ["sh", "-c", "x".repeat(pad)], cwd: "/", startedAt: endedAt - 5000, endedAt, exitCode: 0, signal: null, state: "exited", reason: "exit record" })}\n`;

function historyOf(lines: string[]): string {
  const path = join(mkdtempSync(join(tmpdir(), "kraal-history-")), "history.jsonl");
  writeFileSync(path, lines.join(""));
  return path;
}

describe("how many runs ended lately (ps's last line)", () => {
  test("counts the recent runs after older ones", () => {
    const path = historyOf([...Array.from({ length: 50 }, (_, i) => line(i, now - 2 * HOUR)), ...Array.from({ length: 7 }, (_, i) => line(100 + i, now - 60_000))]);
    expect(countEndedSince(path, now - HOUR)).toBe(7);
  });

  test("counts all of them when more ended than one read of the end holds (a kill --all of 1,000 agents)", () => {
    const recent = Array.from({ length: 1000 }, (_, i) => line(i, now - 1000 + i));
    expect(countEndedSince(historyOf(recent), now - HOUR)).toBe(1000);
    const path = historyOf([...Array.from({ length: 3000 }, (_, i) => line(i, now - 3 * HOUR)), ...recent]);
    expect(countEndedSince(path, now - HOUR)).toBe(1000);
  });

  test("a run appended late with an earlier end (an agent found dead later) does not stop the count", () => {
    const recent = Array.from({ length: 1000 }, (_, i) => line(i, now - 1000 + i));
    expect(countEndedSince(historyOf([...recent, line(5000, now - 2 * HOUR)]), now - HOUR)).toBe(1000);
    expect(countEndedSince(historyOf([...recent.slice(0, 500), line(5000, now - 2 * HOUR), ...recent.slice(500)]), now - HOUR)).toBe(1000);
  });

  test("a line cut between two reads is counted once, whatever its length", () => {
    for (const pad of [10, 1000, 40_000, 70_000, 200_000]) {
      const lines = Array.from({ length: 40 }, (_, i) => line(i, now - 1000, pad));
      expect(countEndedSince(historyOf(lines), now - HOUR)).toBe(40);
      const mixed = [line(0, now - 2 * HOUR, pad), ...lines];
      expect(countEndedSince(historyOf(mixed), now - HOUR)).toBe(40);
    }
  });

  test("no history, or an empty one, is none", () => {
    expect(countEndedSince(join(tmpdir(), "kraal-no-such-history"), now)).toBe(0);
    expect(countEndedSince(historyOf([]), now)).toBe(0);
  });
});
