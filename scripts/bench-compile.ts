import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { JIT_POLICY } from "./build.ts";

/**
 * Compiles `entry` to `outfile` with the same `bun build --compile` options scripts/build.ts gives
 * kraal (minified, bytecode, code splitting, no .env/bunfig autoloading, the same JIT policy), so that a floor or probe
 * starts exactly as kraal does. Keep the two in step.
 */
export async function compileLikeKraal(entry: string, outfile: string): Promise<string> {
  mkdirSync(dirname(outfile), { recursive: true });
  const r = await Bun.build({
    entrypoints: [entry],
    compile: { outfile, autoloadDotenv: false, autoloadBunfig: false, jitPolicy: JIT_POLICY } as Bun.CompileBuildOptions,
    minify: true,
    bytecode: true,
    splitting: true,
    format: "esm",
    target: "bun",
  });
  if (!r.success) throw new Error(`${entry}: build failed: ${r.logs.join("\n")}`);
  return outfile;
}
