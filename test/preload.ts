// Loaded before every test file (bunfig.toml). In the cgroup tier, every agent a test starts gets
// its cgroup in one base made for this test run (KRAAL_CGROUP, inherited by each kraal a test
// runs), and that base, with whatever is left in it, is removed when the run ends: tests leave no
// cgroups behind, even those that kill their agents by pgid.
import { afterAll } from "bun:test";
import { dirname } from "node:path";
import { detectContainment } from "../src/sys/cgroup.ts";
import { killCgroup, listCgroups, readEvents, removeCgroup } from "../src/sys/cgroup-ops.ts";

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
