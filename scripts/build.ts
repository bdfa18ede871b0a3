/**
 * Builds kraal as one self-contained executable (bun build --compile): minified, bytecode for
 * fast start-up, code splitting for lazily loaded commands, version and commit embedded, and
 * Bun's autoloading of the user's .env and bunfig.toml turned off (they would change how kraal
 * boots and leak into its agents).
 *
 *   bun scripts/build.ts                          dist/kraal for this machine
 *   bun scripts/build.ts --release [--targets a,b] [--out DIR]
 *                                                 every Linux target as kraal-<target>.tar.gz
 *                                                 (kraal + LICENSE) plus SHA256SUMS, VERSION and install.sh, in dist/release/
 *
 * Each target's Bun runtime comes from the npm registry (@oven/bun-<platform> at the exact Bun
 * version pinned in package.json), cached in .cache/bun-runtimes/ (git-ignored), so a build
 * never downloads anything from elsewhere. The host artifact is smoke-tested (--version and a
 * spawn/kill round trip) before the release counts as built.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pkg from "../package.json";

const ROOT = resolve(import.meta.dir, "..");
const BUN_VERSION = pkg.devDependencies.bun;
const RUNTIME_CACHE = join(ROOT, ".cache/bun-runtimes");

/** Release targets: our name, Bun's compile target, and the npm package holding that runtime. */
export const TARGETS = {
  "linux-x64": { bun: "bun-linux-x64", npm: "@oven/bun-linux-x64" },
  "linux-x64-baseline": { bun: "bun-linux-x64-baseline", npm: "@oven/bun-linux-x64-baseline" },
  "linux-arm64": { bun: "bun-linux-arm64", npm: "@oven/bun-linux-aarch64" },
  "linux-x64-musl": { bun: "bun-linux-x64-musl", npm: "@oven/bun-linux-x64-musl" },
  "linux-arm64-musl": { bun: "bun-linux-arm64-musl", npm: "@oven/bun-linux-aarch64-musl" },
} as const;
export type Target = keyof typeof TARGETS;

/** The release target this machine runs. */
export function hostTarget(): Target {
  return process.arch === "arm64" ? "linux-arm64" : "linux-x64";
}

function sh(cmd: string[], cwd = ROOT): string {
  const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString().trim()}`);
  return r.stdout.toString().trim();
}

function commit(): string {
  if (process.env.GITHUB_SHA) return process.env.GITHUB_SHA.slice(0, 12);
  try {
    return sh(["git", "rev-parse", "--short=12", "HEAD"]);
  } catch {
    return "unknown";
  }
}

/** The Bun runtime for `target`, fetched once through the npm registry into the cache. */
export function runtimeFor(target: Target): string {
  const { npm } = TARGETS[target];
  const dir = join(RUNTIME_CACHE, `${npm.replace("@oven/", "")}-${BUN_VERSION}`);
  const bin = join(dir, "package/bin/bun");
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const tgz = sh(["npm", "pack", "--silent", `${npm}@${BUN_VERSION}`, "--pack-destination", dir]).split("\n").at(-1)!;
  sh(["tar", "-xzf", join(dir, tgz), "-C", dir]);
  rmSync(join(dir, tgz));
  chmodSync(bin, 0o755);
  return bin;
}

/**
 * How reluctant the JIT is while kraal starts (compile.jitPolicy: JavaScriptCore's tier-up
 * thresholds times this). A kraal command is one short process that runs most of its code once:
 * compiling that code costs more than it saves (`ps` over 100 agents: ~15% of its time went to
 * the JIT's threads). Long-lived work (`up`, `mcp`, a sweep of many handles) turns the normal
 * policy back on: src/sys/jit.ts. scripts/bench-compile.ts builds the floors with the same value.
 */
export const JIT_POLICY = 100;

export async function buildKraal(opts: { outfile?: string; target?: Target } = {}): Promise<string> {
  const outfile = opts.outfile ?? join(ROOT, "dist/kraal");
  const compile: Bun.CompileBuildOptions & Record<string, unknown> = { outfile, autoloadDotenv: false, autoloadBunfig: false, jitPolicy: JIT_POLICY };
  // The host target compiles against the running Bun (the pinned one): nothing is fetched,
  // so tests that build only the host artifact work offline.
  if (opts.target && !(opts.target === hostTarget() && Bun.version === BUN_VERSION)) {
    compile.target = TARGETS[opts.target].bun;
    compile.executablePath = runtimeFor(opts.target);
  }
  const result = await Bun.build({
    entrypoints: [join(ROOT, "src/cli/cli.ts")],
    compile,
    minify: true,
    bytecode: true,
    // Commands are lazy imports; split chunks are parsed only when their command runs.
    splitting: true,
    format: "esm",
    target: "bun",
    define: { KRAAL_VERSION: JSON.stringify(pkg.version), KRAAL_COMMIT: JSON.stringify(commit()) },
  });
  if (!result.success) {
    for (const m of result.logs) console.error(m);
    throw new Error(`build failed${opts.target ? ` for ${opts.target}` : ""}`);
  }
  return outfile;
}

async function sha256(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  h.update(await Bun.file(path).arrayBuffer());
  return h.digest("hex");
}

/** --version and a spawn/kill round trip, run from a fresh directory with a private state dir. */
export function smokeTest(bin: string): void {
  const dir = mkdtempSync(join(tmpdir(), "kraal-smoke-"));
  const env = { ...process.env, KRAAL_DIR: join(dir, "state") } as Record<string, string>;
  const run = (...args: string[]) => {
    const r = Bun.spawnSync([bin, ...args], { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`smoke test: kraal ${args.join(" ")} exited ${r.exitCode}: ${r.stderr}`);
    return r.stdout.toString();
  };
  try {
    const v = run("--version");
    if (!v.startsWith(`kraal ${pkg.version} `)) throw new Error(`smoke test: --version printed ${JSON.stringify(v)}`);
    run("spawn", "smoke", "--", "sleep", "60");
    if (!run("ps").includes("smoke")) throw new Error("smoke test: the spawned agent is not listed");
    run("kill", "smoke");
    if (run("ps").split("\n").slice(1).some((line) => line.startsWith("smoke "))) throw new Error("smoke test: the agent is still listed after kill");
  } finally {
    Bun.spawnSync([bin, "kill", "--all"], { cwd: dir, env });
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The repository releases are published from: package.json's `repository` field is the one
 * place that names it (the placeholder `kraal-dev/kraal` until the first real release).
 */
export const REPOSITORY_URL = pkg.repository.url.replace(/\.git$/, "").replace(/^git\+/, "");

/** scripts/install.sh with its default download URL pointing at `repoUrl`'s releases. */
export function installerFor(repoUrl: string): string {
  const text = readFileSync(join(ROOT, "scripts/install.sh"), "utf8");
  const line = /^DEFAULT_DOWNLOAD_URL=.*$/m;
  if (!line.test(text)) throw new Error("scripts/install.sh has no DEFAULT_DOWNLOAD_URL line");
  return text.replace(line, `DEFAULT_DOWNLOAD_URL="${repoUrl}/releases"`).replace(/https:\/\/github\.com\/[\w.-]+\/kraal\b/g, repoUrl);
}

/** Builds, packs and checksums the release artifacts; smoke-tests the host one. */
export async function buildRelease(opts: { targets: Target[]; out: string }): Promise<string[]> {
  rmSync(opts.out, { recursive: true, force: true });
  mkdirSync(opts.out, { recursive: true });
  const sums: string[] = [];
  const assets: string[] = [];
  for (const target of opts.targets) {
    const stage = mkdtempSync(join(tmpdir(), `kraal-${target}-`));
    try {
      await buildKraal({ outfile: join(stage, "kraal"), target });
      copyFileSync(join(ROOT, "LICENSE"), join(stage, "LICENSE"));
      if (target === hostTarget()) smokeTest(join(stage, "kraal"));
      const asset = `kraal-${target}.tar.gz`;
      // Reproducible archives: fixed owner, order and times; gzip without a timestamp.
      sh(["sh", "-c", `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - kraal LICENSE | gzip -n > "$0"`, join(opts.out, asset)], stage);
      sums.push(`${await sha256(join(opts.out, asset))}  ${asset}`);
      assets.push(asset);
      console.error(`built ${asset}`);
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }
  writeFileSync(join(opts.out, "SHA256SUMS"), `${sums.join("\n")}\n`);
  writeFileSync(join(opts.out, "install.sh"), installerFor(REPOSITORY_URL), { mode: 0o755 });
  // A few bytes the installer reads first, to skip the archive when that version is installed.
  writeFileSync(join(opts.out, "VERSION"), `${pkg.version}\n`);
  return assets;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args.includes("--release")) {
    const flag = (name: string) => {
      const i = args.indexOf(name);
      return i >= 0 ? args[i + 1] : undefined;
    };
    const list = flag("--targets");
    const targets = (list ? (list === "host" ? [hostTarget()] : list.split(",")) : Object.keys(TARGETS)) as Target[];
    for (const t of targets) if (!(t in TARGETS)) throw new Error(`unknown target ${t}; known: ${Object.keys(TARGETS).join(", ")}`);
    const out = resolve(flag("--out") ?? join(ROOT, "dist/release"));
    await buildRelease({ targets, out });
    console.error(`wrote ${out}/SHA256SUMS (kraal ${pkg.version}, Bun ${BUN_VERSION})`);
  } else {
    const out = await buildKraal();
    console.error(`built ${out} (kraal ${pkg.version})`);
  }
}
