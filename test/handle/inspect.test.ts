import { describe, expect, test } from "bun:test";
import { mkdtempSync, truncateSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { serializeHandle } from "../../src/handle/handle.ts";
import { inspect, listNames, probesFor } from "../../src/handle/inspect.ts";
import { ensureLayout, layoutOf } from "../../src/handle/state.ts";
import type { VerdictProbes } from "../../src/handle/verdict.ts";
import { sampleHandle } from "../helpers.ts";

describe("inspecting entries of pids/", () => {
  const l = layoutOf(mkdtempSync(join(tmpdir(), "kraal-inspect-")));
  ensureLayout(l);
  /** Probes that fail the test if anything about the entry is looked at beyond its file. */
  const untouchable: VerdictProbes = {
    ...probesFor(l),
    readStat: () => {
      throw new Error("the leader was probed");
    },
    probeGroup: () => {
      throw new Error("the group was probed");
    },
    readExit: () => {
      throw new Error("an exit record was read");
    },
  };

  test("a handle under another id's name is corrupt before its leader, group or exit record is looked at", () => {
    // The recorded id is big and not the file's: it is neither probed nor encoded into a path.
    writeFileSync(join(l.pids, "x"), serializeHandle(sampleHandle({ id: "y".repeat(100_000), pgid: 999_999, host: hostname(), uid: process.getuid!() })));
    expect(inspect(l, "x", untouchable).verdict).toMatchObject({ state: "corrupt", ours: false, reason: expect.stringContaining("not its file name's") });
  });

  test("the listing says which entries are regular files; a huge one listed so is too big, not read", () => {
    writeFileSync(join(l.pids, "huge"), "");
    truncateSync(join(l.pids, "huge"), 8 * 1024 ** 3); // sparse: 8 GiB that takes no space
    const { names, files } = listNames(l);
    expect(names).toEqual([...names].sort());
    expect(files.has("huge")).toBe(true);
    const t0 = performance.now();
    expect(inspect(l, "huge", untouchable, true).verdict).toMatchObject({ state: "corrupt", reason: expect.stringContaining("too big") });
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
