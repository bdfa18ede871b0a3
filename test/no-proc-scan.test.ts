import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** corral reads /proc/<pid>/stat for a pid it recorded, and the boot id; it never lists /proc. */
test("src/ never lists /proc or globs over it", () => {
  const root = join(import.meta.dir, "../src");
  const files = readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith(".ts"));
  expect(files.length).toBeGreaterThan(10);
  const offenders: string[] = [];
  for (const f of files) {
    const text = readFileSync(join(root, f), "utf8");
    for (const pattern of [/readdir(Sync)?\([^)]*["'`]\/proc\/?["'`]/, /opendir(Sync)?\([^)]*\/proc/, /\/proc\/\*/, /Glob\([^)]*\/proc/]) {
      if (pattern.test(text)) offenders.push(`${f}: ${pattern}`);
    }
    if (/readdir/.test(text) && /\/proc/.test(text.split("\n").filter((l) => /readdir/.test(l)).join("\n"))) offenders.push(`${f}: readdir near /proc`);
  }
  expect(offenders).toEqual([]);
});
