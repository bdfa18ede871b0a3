import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { didYouMean, SYNOPSIS } from "../../src/cli/help.ts";
import { ROOT } from "../helpers.ts";

/** The command names of the root map in src/cli/cli.ts, read from its source. */
const COMMAND_NAMES = [...readFileSync(join(ROOT, "src/cli/cli.ts"), "utf8").matchAll(/^\s+(\w+): \(\) => import\(/gm)].map((m) => m[1]!);

test("every command has a synopsis, and those that run CMD show -- CMD", () => {
  expect(COMMAND_NAMES.length).toBeGreaterThan(5);
  for (const name of COMMAND_NAMES.filter((n) => !n.startsWith("_"))) expect(Object.keys(SYNOPSIS)).toContain(name);
  for (const name of ["spawn", "run"]) expect(SYNOPSIS[name]!.usage).toContain("-- CMD [ARGS...]");
});

test("did you mean: one or two edits away, or a prefix; nothing for a stranger", () => {
  const names = Object.keys(SYNOPSIS);
  expect(didYouMean("spwan", names)).toBe("spawn");
  expect(didYouMean("stauts", names)).toBe("status");
  expect(didYouMean("kil", names)).toBe("kill");
  expect(didYouMean("swe", names)).toBe("sweep");
  expect(didYouMean("frobnicate", names)).toBeUndefined();
});
