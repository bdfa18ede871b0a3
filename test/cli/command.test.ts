import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "citty";
import type { CommandDef } from "citty";
import { parsesEmptyToNothing } from "../../src/cli/command.ts";
import { ROOT } from "../helpers.ts";

const dir = join(ROOT, "src/cli/commands");
const commands = readdirSync(dir).filter((f) => !f.startsWith("_") && f.endsWith(".ts"));

test("where main.ts skips citty for an empty command line, citty would have parsed it into nothing", async () => {
  const skipped: string[] = [];
  for (const f of commands) {
    const cmd = (await import(join(dir, f))).default as CommandDef<any>;
    if (!parsesEmptyToNothing(cmd)) continue;
    skipped.push(f);
    const parsed: Record<string, unknown> = { ...parseArgs([], (cmd.args ?? {}) as any) };
    expect(parsed).toEqual({ _: [] });
  }
  expect(skipped).toContain("ps.ts");
});

test("a command with a default or a positional is always parsed by citty", () => {
  expect(parsesEmptyToNothing({ args: { json: { type: "boolean" } } })).toBe(true);
  expect(parsesEmptyToNothing({ args: { timeout: { type: "string", default: "30s" } } })).toBe(false);
  expect(parsesEmptyToNothing({ args: { id: { type: "positional", required: false } } })).toBe(false);
});
