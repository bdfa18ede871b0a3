/**
 * Builds dist/corral: one self-contained executable (bun build --compile), minified, with
 * bytecode for fast start-up, the version embedded, and Bun's autoloading of the user's .env
 * and bunfig.toml turned off (they would change how corral boots and leak into its agents).
 */
import pkg from "../package.json";

export async function buildCorral(opts: { outfile?: string; target?: string } = {}): Promise<string> {
  const outfile = opts.outfile ?? "dist/corral";
  const result = await Bun.build({
    entrypoints: ["./src/cli.ts"],
    compile: {
      outfile,
      ...(opts.target ? { target: opts.target } : {}),
      autoloadDotenv: false,
      autoloadBunfig: false,
    } as Bun.CompileBuildOptions,
    minify: true,
    bytecode: true,
    // Commands are lazy imports; split chunks are parsed only when their command runs.
    splitting: true,
    format: "esm",
    target: "bun",
    define: { CORRAL_VERSION: JSON.stringify(pkg.version) },
  });
  if (!result.success) {
    for (const m of result.logs) console.error(m);
    throw new Error("build failed");
  }
  return outfile;
}

if (import.meta.main) {
  const out = await buildCorral();
  console.error(`built ${out} (corral ${pkg.version})`);
}
