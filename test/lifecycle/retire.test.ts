import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { serializeHandle, writeFileAtomic } from "../../src/handle/handle.ts";
import { readHistory } from "../../src/lifecycle/history.ts";
import { inspect } from "../../src/handle/inspect.ts";
import { endOf, retire } from "../../src/lifecycle/retire.ts";
import { ensureLayout, layoutOf } from "../../src/handle/state.ts";
import { sampleHandle } from "../helpers.ts";

describe("retiring handles", () => {
  const l = layoutOf(mkdtempSync(join(tmpdir(), "kraal-retire-")));
  ensureLayout(l);
  const stale = sampleHandle({ bootId: "earlier-boot", host: hostname(), uid: process.getuid!() });

  test("moves a dead handle into history, then removes it", () => {
    writeFileAtomic(l.pids, "a", serializeHandle(stale));
    const e = inspect(l, "a");
    expect(e.verdict.state).toBe("stale");
    expect(retire(l, [{ entry: e, history: endOf(e)! }])).toHaveLength(1);
    expect(existsSync(join(l.pids, "a"))).toBe(false);
    expect(readHistory(l.history).at(-1)).toMatchObject({ id: "a", state: "stale", reason: "other boot" });
  });

  test("never removes a handle rewritten after it was looked at", () => {
    writeFileAtomic(l.pids, "b", serializeHandle({ ...stale, id: "b" }));
    const e = inspect(l, "b");
    const fresh = serializeHandle({ ...stale, id: "b", bootId: "this-boot", startedAt: stale.startedAt + 1 });
    writeFileAtomic(l.pids, "b", fresh); // a new spawn won the race
    expect(retire(l, [{ entry: e, history: endOf(e)! }])).toEqual([]);
    expect(readFileSync(join(l.pids, "b"), "utf8")).toBe(fresh);
  });
});
