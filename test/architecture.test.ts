import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** kraal reads /proc/<pid>/stat for a pid it recorded, and the boot id; it never lists /proc. */
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

/** The layers of src/, lowest first. A module may import from its own layer and the ones below it. */
const LAYERS = ["base", "sys", "handle", "lifecycle", "supervise", "cli"];

test("imports run one way: no layer imports from a layer above it (and none from cli/)", () => {
  const root = join(import.meta.dir, "../src");
  const files = readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith(".ts"));
  const upward: string[] = [];
  for (const f of files) {
    const layer = f.split("/")[0]!;
    expect(LAYERS).toContain(layer);
    const text = readFileSync(join(root, f), "utf8");
    for (const m of text.matchAll(/(?:from|import\(|require\()\s*"(\.[^"]+)"/g)) {
      const target = join(f, "..", m[1]!).split("/")[0]!;
      if (LAYERS.indexOf(target) > LAYERS.indexOf(layer)) upward.push(`${f} imports ${m[1]}`);
    }
  }
  expect(upward).toEqual([]);
});

/** `kraal mcp` alone pays for the MCP SDK: nothing else imports it, or the server, statically. */
test("the MCP SDK and zod are loaded only by kraal mcp, through one dynamic import", () => {
  const root = join(import.meta.dir, "../src");
  const files = readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith(".ts"));
  const offenders: string[] = [];
  for (const f of files) {
    if (f.startsWith("cli/mcp/")) continue;
    const text = readFileSync(join(root, f), "utf8");
    if (/from\s*"(@modelcontextprotocol\/[^"]*|zod)"|require\(\s*"(@modelcontextprotocol|zod)/.test(text)) offenders.push(`${f} imports the SDK or zod`);
    if (/from\s*"[^"]*\/mcp\/[^"]*"/.test(text)) offenders.push(`${f} imports cli/mcp/ statically`);
  }
  expect(offenders).toEqual([]);
  expect(readFileSync(join(root, "cli/commands/mcp.ts"), "utf8")).toContain('await import("../mcp/server.ts")');
});
