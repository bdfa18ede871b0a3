import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { installerFor, REPOSITORY_URL } from "../../scripts/build.ts";
// @ts-ignore: plain Node.js module without types (the action has no dependencies)
import { defaultDownloadUrl } from "../../scripts/action/lib.mjs";
import { ROOT } from "../helpers.ts";

/** The repository is named in package.json only; everything published takes it from there. */
test("the published installer downloads from package.json's repository", () => {
  const text = installerFor("https://github.com/someone/kraal");
  expect(text).toContain('DEFAULT_DOWNLOAD_URL="https://github.com/someone/kraal/releases"');
  expect(text.match(/github\.com\/[^/\s"]+\/kraal/g)!.every((u) => u === "github.com/someone/kraal")).toBe(true);
  expect(installerFor(REPOSITORY_URL)).toContain(`DEFAULT_DOWNLOAD_URL="${REPOSITORY_URL}/releases"`);
});

test("the Action downloads from its own repository, else from package.json's", () => {
  expect(defaultDownloadUrl({ GITHUB_ACTION_REPOSITORY: "someone/kraal" })).toBe("https://github.com/someone/kraal/releases");
  expect(defaultDownloadUrl({})).toBe(`${REPOSITORY_URL}/releases`);
});

test("every address in the README and workflows names the same repository as package.json", () => {
  const repo = REPOSITORY_URL.replace("https://github.com/", "");
  for (const f of ["README.md", "action.yml", ".github/workflows/ci.yml", ".github/workflows/release.yml"]) {
    const text = readFileSync(join(ROOT, f), "utf8");
    for (const m of text.matchAll(/github\.com\/([\w.-]+\/[\w.-]+)\/releases|--repo ([\w.-]+\/[\w.-]+)|uses: ([\w.-]+\/kraal)@/g)) {
      expect(`${f}: ${m[1] ?? m[2] ?? m[3]}`).toBe(`${f}: ${repo}`);
    }
  }
});
