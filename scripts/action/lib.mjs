// Helpers for the kraal GitHub Action: the runner's file commands, inputs, and release download
// and verification (the same rules as scripts/install.sh). Plain Node.js, no dependencies.
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, readFileSync } from "node:fs";

/**
 * Releases come from the repository the action itself was checked out from (the runner names it
 * in GITHUB_ACTION_REPOSITORY), else from package.json's "repository", the one place naming it.
 */
export function defaultDownloadUrl(env = process.env) {
  if (env.GITHUB_ACTION_REPOSITORY) return `https://github.com/${env.GITHUB_ACTION_REPOSITORY}/releases`;
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  return `${pkg.repository.url.replace(/\.git$/, "").replace(/^git\+/, "")}/releases`;
}

/** An input as the runner passes it: INPUT_<NAME> with spaces as underscores, upper case. */
export function input(name, fallback = "") {
  const v = process.env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`];
  return v === undefined || v.trim() === "" ? fallback : v.trim();
}

function fileCommand(variable, line) {
  const file = process.env[variable];
  if (!file) throw new Error(`$${variable} is not set: is this running in GitHub Actions?`);
  appendFileSync(file, `${line}\n`);
}

export const addPath = (dir) => fileCommand("GITHUB_PATH", dir);
export const exportVariable = (name, value) => fileCommand("GITHUB_ENV", `${name}=${value}`);
export const setOutput = (name, value) => fileCommand("GITHUB_OUTPUT", `${name}=${value}`);
export const saveState = (name, value) => fileCommand("GITHUB_STATE", `${name}=${value}`);
export const getState = (name) => process.env[`STATE_${name}`] ?? "";

/** Release target for this runner, as the installer detects it. */
export function detectTarget() {
  if (process.env.KRAAL_TARGET) return process.env.KRAAL_TARGET;
  if (process.platform !== "linux") throw new Error(`kraal runs on Linux runners only (this is ${process.platform})`);
  const arch = { x64: "x64", arm64: "arm64" }[process.arch];
  if (!arch) throw new Error(`no kraal build for ${process.arch}`);
  const musl = !process.report?.getReport?.().header?.glibcVersionRuntime;
  if (musl) return `linux-${arch}-musl`;
  if (arch === "x64") {
    let avx2 = false;
    try {
      avx2 = /\bavx2\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
    } catch {}
    if (!avx2) return "linux-x64-baseline";
  }
  return `linux-${arch}`;
}

export async function download(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot download ${url} (HTTP ${res.status})`);
  return Buffer.from(await res.arrayBuffer());
}

/** Throws unless `data` has the SHA-256 that SHA256SUMS lists for `asset`. */
export function verifyChecksum(data, asset, sums) {
  const line = sums.split("\n").map((l) => l.trim().split(/\s+/)).find(([, name]) => name === asset || name === `*${asset}`);
  if (!line) throw new Error(`SHA256SUMS has no entry for ${asset}; refusing to install`);
  const actual = createHash("sha256").update(data).digest("hex");
  if (actual !== line[0]) throw new Error(`checksum mismatch for ${asset} (expected ${line[0]}, got ${actual}); refusing to install`);
}

export function fail(message) {
  console.log(`::error::${message}`);
  process.exitCode = 1;
}

export { existsSync };
