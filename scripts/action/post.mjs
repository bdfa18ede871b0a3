// The action's post step (runs always, even when the job failed or was cancelled): report what
// was still running at the end of the job, stop it all with `kraal kill --all`, and fail the
// job on leaks when fail-on-leak is true.
import { spawnSync } from "node:child_process";
import { existsSync, fail, getState, input } from "./lib.mjs";

function main() {
  const bin = getState("bin");
  const dir = getState("dir");
  if (!bin || !existsSync(bin)) {
    console.log("kraal: not installed by the main step; nothing to clean up");
    return;
  }
  const env = { ...process.env, KRAAL_DIR: dir };
  const grace = input("grace", "2s");
  const failOnLeak = input("fail-on-leak", "false").toLowerCase() === "true";

  const ps = spawnSync(bin, ["ps", "--json"], { env, encoding: "utf8" });
  let rows = [];
  try {
    rows = JSON.parse(ps.stdout || "[]");
  } catch {
    console.log(`kraal: could not list agents: ${ps.stderr}`);
  }
  const leaked = rows.filter((r) => r.state === "running" || r.state === "unverified");
  if (leaked.length) {
    console.log(`::warning::kraal: ${leaked.length} agent(s) still running at the end of the job`);
    for (const r of leaked) console.log(`  ${r.id}  pgid ${r.pgid}  started ${r.startedAt}  ${r.argv.join(" ")}`);
  } else {
    console.log("kraal: nothing was left running");
  }

  const kill = spawnSync(bin, ["kill", "--all", "--grace", grace], { env, encoding: "utf8" });
  if (kill.stdout) process.stdout.write(kill.stdout);
  if (kill.status !== 0) fail(`kraal kill --all failed (exit ${kill.status}): ${kill.stderr.trim()}`);
  if (leaked.length && failOnLeak) fail(`kraal: ${leaked.length} agent(s) leaked past the end of the job (fail-on-leak is true)`);
}

main();
