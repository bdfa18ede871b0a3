import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";

// The README tells users `uses: OWNER/kraal@REF`; the release workflow must really make REF.
// The workflow's own tag-moving step is run here, for real, against a local bare "origin".

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;
const workflow = Bun.YAML.parse(readFileSync(join(ROOT, ".github/workflows/release.yml"), "utf8")) as any;
const steps = workflow.jobs.release.steps as { name?: string; run?: string }[];

function git(cwd: string, ...args: string[]): string {
  const r = Bun.spawnSync(["git", ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.toString().trim();
}

/** Runs the workflow's "Move the major tag" step as a release of `tag` would, in a fresh clone; returns origin's tags. */
function release(dir: string, tag: string, previous?: string): Record<string, string> {
  const step = steps.find((s) => s.name === "Move the major tag");
  expect(step?.run).toBeDefined();
  const work = join(dir, "work");
  writeFileSync(join(work, "f"), tag);
  git(work, "add", "f");
  git(work, "commit", "-qm", tag);
  const sha = git(work, "rev-parse", "HEAD");
  git(work, "tag", tag);
  git(work, "push", "-q", "origin", "HEAD:refs/heads/main", `refs/tags/${tag}`);
  const r = Bun.spawnSync(["bash", "-e", "-c", step!.run!], { cwd: work, stdout: "pipe", stderr: "pipe", env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GITHUB_REF_NAME: tag, GITHUB_SHA: sha } });
  if (r.exitCode !== 0) throw new Error(`the step failed: ${r.stderr}`);
  const tags = Object.fromEntries(
    git(dir, "--git-dir", join(dir, "origin.git"), "show-ref", "--tags")
      .split("\n")
      .map((l) => l.split(" refs/tags/").reverse() as [string, string]),
  );
  expect(tags[tag]).toBe(sha);
  if (previous) expect(tags[previous]).not.toBe(sha);
  return { ...tags, sha };
}

test("the README's `uses:` line names the major tag of package.json's version, which every release moves to itself", () => {
  const uses = [...readme.matchAll(/uses: ([\w.-]+\/kraal)@(\S+)/g)].map((m) => m[2]);
  expect(uses.length).toBeGreaterThan(0);
  const major = `v${version.split(".")[0]}`;
  for (const ref of uses) expect(ref).toBe(major);
  // The workflow runs on every v* tag and checks the tag against package.json first.
  expect(workflow.on.push.tags).toEqual(["v*"]);
  expect(steps.some((s) => s.run?.includes('"v$(node -p \'require("./package.json").version\')" = "$GITHUB_REF_NAME"'))).toBe(true);
  // ...and publishes before it moves the tag (a failed release never moves it).
  const names = steps.map((s) => s.name ?? "");
  expect(names.indexOf("Move the major tag")).toBeGreaterThan(names.indexOf("Publish"));

  const dir = mkdtempSync(join(tmpdir(), "kraal-tag-"));
  try {
    git(dir, "init", "-q", "--bare", "origin.git");
    git(dir, "init", "-q", "work");
    git(join(dir, "work"), "remote", "add", "origin", join(dir, "origin.git"));
    // The first release makes the major tag; the next one of the same major moves it.
    const first = release(dir, `${major}.1.0`);
    expect(first[major]).toBe(first.sha);
    const second = release(dir, `${major}.2.0`, `${major}.1.0`);
    expect(second[major]).toBe(second.sha);
    expect(second[`${major}.1.0`]).toBe(first.sha); // the release tags themselves stay
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
