import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { groupUsage, pageSize } from "../../src/lifecycle/usage.ts";

/** A fake /proc holding `pid`'s stat (utime, stime, rss given) and its children. */
function fakeProc(root: string, pid: number, o: { utime: number; stime: number; rss: number; children: number[] }): void {
  mkdirSync(join(root, `${pid}/task/${pid}`), { recursive: true });
  writeFileSync(join(root, `${pid}/stat`), `${pid} (sh) S 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${o.utime} ${o.stime} 0 0 20 0 1 0 5 1000 ${o.rss} 18446744073709551615\n`);
  writeFileSync(join(root, `${pid}/task/${pid}/children`), o.children.map((c) => `${c} `).join(""));
}

test("a group's usage sums the wrapper and its descendants from their stat, one read each", () => {
  const root = mkdtempSync(join(tmpdir(), "kraal-proc-"));
  fakeProc(root, 100, { utime: 1, stime: 1, rss: 10, children: [101] });
  fakeProc(root, 101, { utime: 30, stime: 10, rss: 200, children: [102, 103] });
  fakeProc(root, 102, { utime: 5, stime: 0, rss: 50, children: [] });
  // 103 has exited meanwhile: counted as seen, adds nothing.
  const u = groupUsage(100, null, root);
  expect(u).toEqual({ pid: 101, processes: 4, cpuMs: (2 + 40 + 5) * 10, rssBytes: 260 * pageSize() });
});

test("the page size is the kernel's (a multiple of 4 KiB)", () => {
  expect(pageSize() % 4096).toBe(0);
  expect(pageSize()).toBeGreaterThanOrEqual(4096);
});
