import { afterAll, afterEach, beforeAll } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json";
import { buildRelease, hostTarget } from "../../scripts/build.ts";
import { killTracked } from "../helpers.ts";

export interface ReleaseServer {
  url: string;
  root: string;
  asset: string;
  /** Paths requested so far, oldest first. */
  requests: string[];
  stop(): void;
}

function sha256(path: string): string {
  return new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
}

/** A release holding a stand-in `kraal` script that only reports `version`. */
function fakeRelease(dir: string, asset: string, version: string): void {
  const stage = mkdtempSync(join(tmpdir(), "kraal-fake-"));
  writeFileSync(join(stage, "kraal"), `#!/bin/sh\necho "kraal ${version} (stand-in)"\n`);
  chmodSync(join(stage, "kraal"), 0o755);
  mkdirSync(dir, { recursive: true });
  Bun.spawnSync(["tar", "-czf", join(dir, asset), "-C", stage, "kraal"]);
  writeFileSync(join(dir, "SHA256SUMS"), `${sha256(join(dir, asset))}  ${asset}\n`);
}

let building: Promise<string> | undefined;

/** Builds the host release once per test process (the real binary, smoke-tested by the build). */
export function hostRelease(): Promise<string> {
  building ??= (async () => {
    const out = mkdtempSync(join(tmpdir(), "kraal-release-"));
    await buildRelease({ targets: [hostTarget()], out });
    return out;
  })();
  return building;
}

/**
 * Serves releases the way GitHub lays them out, on 127.0.0.1 only:
 *   /latest/download/<asset>     the current version (the real build)
 *   /download/v<version>/<asset> 0.1.0 (real), 0.0.9 (a stand-in), 6.6.6 (tampered tarball),
 *                                7.7.7 (SHA256SUMS without the asset's entry)
 */
export async function startReleaseServer(): Promise<ReleaseServer> {
  const real = await hostRelease();
  const asset = `kraal-${hostTarget()}.tar.gz`;
  const root = mkdtempSync(join(tmpdir(), "kraal-releases-"));
  const dirs: Record<string, string> = { latest: real, [pkg.version]: real };
  dirs["0.0.9"] = join(root, "0.0.9");
  fakeRelease(dirs["0.0.9"], asset, "0.0.9");
  dirs["6.6.6"] = join(root, "6.6.6");
  fakeRelease(dirs["6.6.6"], asset, "6.6.6");
  const tampered = readFileSync(join(dirs["6.6.6"], asset));
  tampered[tampered.length - 10] ^= 0xff;
  writeFileSync(join(dirs["6.6.6"], asset), tampered);
  dirs["7.7.7"] = join(root, "7.7.7");
  fakeRelease(dirs["7.7.7"], asset, "7.7.7");
  writeFileSync(join(dirs["7.7.7"], "SHA256SUMS"), `${"0".repeat(64)}  kraal-some-other-target.tar.gz\n`);
  copyFileSync(join(real, "SHA256SUMS"), join(root, "SHA256SUMS.latest"));

  const requests: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      requests.push(path);
      const m = /^\/(?:latest\/download|download\/v([^/]+))\/([^/]+)$/.exec(path);
      const dir = m ? dirs[m[1] ?? "latest"] : undefined;
      if (!m || !dir) return new Response("not found\n", { status: 404 });
      const file = Bun.file(join(dir, m[2]!));
      return file.size > 0 || m[2] === "SHA256SUMS" ? file.exists().then((ok) => (ok ? new Response(file) : new Response("not found\n", { status: 404 }))) : new Response("not found\n", { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, root, asset, requests, stop: () => server.stop(true) };
}

/**
 * Starts the release server before the calling file's tests and stops it after; kills the
 * process groups each test tracked. Returns a view of the running server.
 */
export function useReleaseServer(): ReleaseServer {
  let server: ReleaseServer | undefined;
  beforeAll(async () => {
    server = await startReleaseServer();
  }, 120_000);
  afterAll(() => server?.stop());
  afterEach(killTracked);
  return new Proxy({} as ReleaseServer, { get: (_, key) => server![key as keyof ReleaseServer] });
}
