import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json";
import { isDeadOrZombie, ROOT, track } from "../helpers.ts";
import { useReleaseServer } from "./release-fixture.ts";

const server = useReleaseServer();
/** Each test runs the action's node scripts and a real kraal: seconds on 2 busy cores. */
const ACTION_TIMEOUT_MS = 30_000;

/** A simulated runner: RUNNER_TEMP and the file-command files GitHub provides. */
function runner() {
  const dir = mkdtempSync(join(tmpdir(), "kraal-runner-"));
  const files = Object.fromEntries(["GITHUB_PATH", "GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STATE"].map((k) => [k, join(dir, k.toLowerCase())]));
  for (const f of Object.values(files)) writeFileSync(f, "");
  // KRAAL_CGROUP (set by test/preload.ts): the agents' cgroups go in this test run's base, removed at its end.
  const cgroup = process.env.KRAAL_CGROUP ? { KRAAL_CGROUP: process.env.KRAAL_CGROUP } : {};
  return { dir, files, env: { PATH: process.env.PATH!, HOME: dir, RUNNER_TEMP: join(dir, "temp"), GITHUB_ACTIONS: "true", ...cgroup, ...files } as Record<string, string> };
}

async function node(script: string, env: Record<string, string>) {
  const p = Bun.spawn(["node", join(ROOT, "scripts/action", script)], { env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

const kv = (file: string) => Object.fromEntries(readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));

describe("the GitHub Action", () => {
  test("action.yml is a node24 action with a post step that always runs", () => {
    const yml = readFileSync(join(ROOT, "action.yml"), "utf8");
    expect(yml).toContain("using: node24");
    expect(yml).toContain("main: scripts/action/main.mjs");
    expect(yml).toContain("post: scripts/action/post.mjs");
    expect(yml).toContain("post-if: always()");
  }, ACTION_TIMEOUT_MS);

  test("main installs and verifies kraal, puts it on PATH, and shares one KRAAL_DIR", async () => {
    const r = runner();
    const main = await node("main.mjs", { ...r.env, "INPUT_DOWNLOAD-URL": server.url, INPUT_VERSION: "" });
    expect(main.code).toBe(0);
    const binDir = join(r.env.RUNNER_TEMP!, "kraal/bin");
    expect(readFileSync(r.files.GITHUB_PATH!, "utf8")).toBe(`${binDir}\n`);
    expect(kv(r.files.GITHUB_ENV!)).toEqual({ KRAAL_DIR: join(r.env.RUNNER_TEMP!, "kraal/state") });
    expect(kv(r.files.GITHUB_OUTPUT!)).toMatchObject({ version: pkg.version, path: join(binDir, "kraal") });
    expect(kv(r.files.GITHUB_STATE!)).toMatchObject({ bin: join(binDir, "kraal") });
  }, ACTION_TIMEOUT_MS);

  test("main refuses a tampered download", async () => {
    const r = runner();
    const main = await node("main.mjs", { ...r.env, "INPUT_DOWNLOAD-URL": server.url, INPUT_VERSION: "6.6.6" });
    expect(main.code).toBe(1);
    expect(main.out).toContain("::error::kraal: checksum mismatch");
    expect(existsSync(join(r.env.RUNNER_TEMP!, "kraal/bin/kraal"))).toBe(false);
    expect(readFileSync(r.files.GITHUB_PATH!, "utf8")).toBe("");
  }, ACTION_TIMEOUT_MS);

  test("post reports what was still running, kills it all, and fails the job on leaks when asked", async () => {
    const r = runner();
    await node("main.mjs", { ...r.env, "INPUT_DOWNLOAD-URL": server.url });
    const state = kv(r.files.GITHUB_STATE!);
    const env = { ...r.env, KRAAL_DIR: state.dir! };
    const spawned = Bun.spawnSync([state.bin!, "spawn", "forgotten-server", "--json", "--", "sleep", "600"], { env });
    const pgid = track(JSON.parse(spawned.stdout.toString()).pgid);
    const post = await node("post.mjs", { ...r.env, STATE_bin: state.bin!, STATE_dir: state.dir!, INPUT_GRACE: "300ms", "INPUT_FAIL-ON-LEAK": "true" });
    expect(post.code).toBe(1);
    expect(post.out).toContain("::warning::kraal: 1 agent(s) still running at the end of the job");
    expect(post.out).toContain("forgotten-server");
    expect(post.out).toContain("::error::kraal: 1 agent(s) leaked");
    expect(isDeadOrZombie(pgid)).toBe(true);
  }, ACTION_TIMEOUT_MS);

  test("post passes when nothing leaked, or when leaks are only reported", async () => {
    const r = runner();
    await node("main.mjs", { ...r.env, "INPUT_DOWNLOAD-URL": server.url });
    const state = kv(r.files.GITHUB_STATE!);
    const clean = await node("post.mjs", { ...r.env, STATE_bin: state.bin!, STATE_dir: state.dir!, "INPUT_FAIL-ON-LEAK": "true" });
    expect(clean).toMatchObject({ code: 0 });
    expect(clean.out).toContain("nothing was left running");
    const spawned = Bun.spawnSync([state.bin!, "spawn", "bg", "--json", "--", "sleep", "600"], { env: { ...r.env, KRAAL_DIR: state.dir! } });
    const pgid = track(JSON.parse(spawned.stdout.toString()).pgid);
    const lenient = await node("post.mjs", { ...r.env, STATE_bin: state.bin!, STATE_dir: state.dir! });
    expect(lenient.code).toBe(0);
    expect(isDeadOrZombie(pgid)).toBe(true);
  }, ACTION_TIMEOUT_MS);

  test("post without a main step is a no-op", async () => {
    const r = runner();
    expect(await node("post.mjs", r.env)).toMatchObject({ code: 0 });
  }, ACTION_TIMEOUT_MS);
});
