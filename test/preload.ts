// Loaded before every test file (bunfig.toml). In the cgroup tier, every agent a test starts gets
// its cgroup in one base made for this test run (KRAAL_CGROUP, inherited by each kraal a test
// runs), and that base, with whatever is left in it, is removed when the run ends: tests leave no
// cgroups behind, even those that kill their agents by pgid.
import { afterAll } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname } from "node:path";
import { detectContainment } from "../src/sys/cgroup.ts";
import { killCgroup, listCgroups, readEvents, removeCgroup } from "../src/sys/cgroup-ops.ts";

// Every temporary file and directory of this run (tmpdir(), for the tests and every process they
// start) goes in one directory, removed when the run ends: an installed kraal is 110 MB, and
// leftovers of a few hundred runs once filled the disk. Readable by all, for the tests that run
// kraal as a second user.
const runTmp = mkdtempSync(`${tmpdir()}/kraal-test-run-`);
chmodSync(runTmp, 0o755);
process.env.TMPDIR = runTmp;
afterAll(() => {
  try {
    rmSync(runTmp, { recursive: true, force: true });
  } catch (e) {
    console.warn(`could not remove ${runTmp}: ${(e as Error).message}`);
  }
});

const c = process.env.KRAAL_CGROUP ? null : detectContainment(process.env);
if (c?.tier === "cgroup" && c.base) {
  const base = `${dirname(c.base)}/kraal-test-${process.pid}`;
  try {
    require("node:fs").mkdirSync(base);
    process.env.KRAAL_CGROUP = base;
    afterAll(async () => {
      for (const name of listCgroups(base)) {
        const path = `${base}/${name}`;
        killCgroup(path);
        const deadline = performance.now() + 5000;
        while (readEvents(path)?.populated && performance.now() < deadline) await Bun.sleep(5);
      }
      removeCgroup(base);
    });
  } catch {}
}
