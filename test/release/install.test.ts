import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json";
import { ROOT, track, waitUntil } from "../helpers.ts";
import { useReleaseServer } from "./release-fixture.ts";

const INSTALLER = join(ROOT, "scripts/install.sh");
const server = useReleaseServer();
/** Each test runs the installer up to three times (a real binary, a local download): seconds on 2 busy cores. */
const INSTALL_TIMEOUT_MS = 30_000;

/** Runs the installer asynchronously: the release server lives in this process and must keep serving. */
async function install(shell: string, home: string, args: string[] = [], extra: Record<string, string> = {}) {
  const env: Record<string, string> = { PATH: process.env.PATH!, HOME: home, KRAAL_DOWNLOAD_URL: server.url, ...extra };
  const p = Bun.spawn([shell, INSTALLER, ...args], { env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}
const bin = (home: string) => join(home, ".local/bin/kraal");
const versionOf = (path: string) => Bun.spawnSync([path, "--version"]).stdout.toString().trim();

for (const shell of ["dash", "bash"]) {
  describe(`install.sh under ${shell}`, () => {
    test("a fresh install verifies, installs the latest release, and prints the PATH line", async () => {
      const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
      const r = await install(shell, home);
      expect(r.code).toBe(0);
      expect(r.err).toContain(`installed kraal ${pkg.version} to ${bin(home)}`);
      expect(r.err).toContain(`export PATH="${join(home, ".local/bin")}:$PATH"`);
      expect(versionOf(bin(home))).toStartWith(`kraal ${pkg.version} `);
    }, INSTALL_TIMEOUT_MS);

    test("re-running is idempotent; --force reinstalls", async () => {
      const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
      await install(shell, home);
      const before = statSync(bin(home)).ino;
      const again = await install(shell, home);
      expect(again.code).toBe(0);
      expect(again.err).toContain(`kraal ${pkg.version} is already installed`);
      expect(statSync(bin(home)).ino).toBe(before);
      expect((await install(shell, home, ["--force"])).code).toBe(0);
      expect(statSync(bin(home)).ino).not.toBe(before);
    }, INSTALL_TIMEOUT_MS);

    test("an up-to-date install reads only the release's VERSION, never the archive", async () => {
      const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
      await install(shell, home);
      const before = statSync(bin(home)).ino;
      const from = server.requests.length;
      const again = await install(shell, home);
      expect(again.code).toBe(0);
      expect(again.err).toContain(`kraal ${pkg.version} is already installed`);
      expect(server.requests.slice(from)).toEqual(["/latest/download/VERSION"]);
      const pinned = server.requests.length;
      expect((await install(shell, home, ["--version", pkg.version])).code).toBe(0);
      expect(server.requests.slice(pinned)).toEqual([]);
      expect(statSync(bin(home)).ino).toBe(before);
    }, INSTALL_TIMEOUT_MS);

    test("--version and KRAAL_VERSION pick a release", async () => {
      const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
      expect((await install(shell, home, ["--version", "0.0.9"])).code).toBe(0);
      expect(versionOf(bin(home))).toBe("kraal 0.0.9 (stand-in)");
      expect((await install(shell, home, [], { KRAAL_VERSION: `v${pkg.version}` })).code).toBe(0);
      expect(versionOf(bin(home))).toStartWith(`kraal ${pkg.version} `);
    }, INSTALL_TIMEOUT_MS);

    test("a tampered tarball installs nothing and exits non-zero", async () => {
      const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
      const r = await install(shell, home, ["--version", "6.6.6"]);
      expect(r.code).toBe(1);
      expect(r.err).toContain("checksum mismatch");
      expect(existsSync(bin(home))).toBe(false);
    }, INSTALL_TIMEOUT_MS);

    test("a missing checksum entry or a missing asset is a clear one-line error", async () => {
      const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
      const noSum = await install(shell, home, ["--version", "7.7.7"]);
      expect(noSum.code).toBe(1);
      expect(noSum.err.trim().split("\n").at(-1)).toBe(`kraal-install: error: SHA256SUMS has no entry for ${server.asset}; refusing to install`);
      const noAsset = await install(shell, home, [], { KRAAL_TARGET: "linux-riscv64" });
      expect(noAsset.code).toBe(1);
      expect(noAsset.err).toContain("cannot download");
      expect(noAsset.err).toContain("kraal-linux-riscv64.tar.gz");
      expect(noAsset.err).toContain("404"); // the download client's own reason
      expect((await install(shell, home, ["--version", "9.9.9"])).code).toBe(1);
      expect(existsSync(bin(home))).toBe(false);
    }, INSTALL_TIMEOUT_MS);

    test("re-installing while the old binary is running works, and the old process carries on", async () => {
      const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
      await install(shell, home, ["--version", "0.0.9"]);
      await install(shell, home);
      const state = join(home, "state");
      const running = Bun.spawn([bin(home), "run", "--", "sleep", "30"], { env: { ...process.env, KRAAL_DIR: state }, detached: true, stdout: "ignore", stderr: "ignore" });
      track(running.pid);
      await waitUntil(() => existsSync(join(state, "pids")), { what: "the old binary to be running" });
      const r = await install(shell, home, ["--force"]);
      expect(r.code).toBe(0);
      expect(running.exitCode).toBeNull();
      running.kill("SIGTERM");
      expect(await running.exited).toBe(143);
    }, INSTALL_TIMEOUT_MS);

    test("in GitHub Actions the directory is appended to $GITHUB_PATH", async () => {
      const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
      const ghPath = join(home, "github_path");
      expect((await install(shell, home, [], { GITHUB_ACTIONS: "true", GITHUB_PATH: ghPath })).code).toBe(0);
      expect(readFileSync(ghPath, "utf8")).toBe(`${join(home, ".local/bin")}\n`);
    }, INSTALL_TIMEOUT_MS);

    test("usage: --help exits 0, a bad flag exits 2", async () => {
      const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
      expect(await install(shell, home, ["--help"])).toMatchObject({ code: 0 });
      expect((await install(shell, home, ["--bogus"])).code).toBe(2);
      expect((await install(shell, home, ["--version"])).code).toBe(2);
    }, INSTALL_TIMEOUT_MS);
  });
}

test("a truncated download runs nothing", async () => {
  const text = readFileSync(INSTALLER, "utf8");
  const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
  for (const cut of [0.3, 0.6, 0.95]) {
    const partial = text.slice(0, Math.floor(text.length * cut));
    const p = Bun.spawn(["dash", "-c", partial], { env: { PATH: process.env.PATH!, HOME: home, KRAAL_DOWNLOAD_URL: server.url }, stderr: "pipe" });
    const err = await new Response(p.stderr).text();
    await p.exited;
    expect(err).not.toContain("downloading");
    expect(existsSync(bin(home))).toBe(false);
  }
}, INSTALL_TIMEOUT_MS);

test("the README's install command fails when the download fails, and installs when it works", async () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const line = /^installer=\$\(curl .*$/m.exec(readme)![0];
  expect(line).toContain("https://github.com/kraal-dev/kraal/releases/latest/download/install.sh");
  const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
  const run = async (from: string) => {
    const p = Bun.spawn(["sh", "-c", line.replace("https://github.com/kraal-dev/kraal/releases", from)], { env: { PATH: process.env.PATH!, HOME: home, KRAAL_DOWNLOAD_URL: server.url }, stdout: "pipe", stderr: "pipe" });
    return p.exited;
  };
  expect(await run(`${server.url}/missing`)).not.toBe(0);
  expect(existsSync(bin(home))).toBe(false);
  expect(await run(server.url)).toBe(0);
  expect(versionOf(bin(home))).toStartWith(`kraal ${pkg.version} `);
}, INSTALL_TIMEOUT_MS);

test("in CI scripts (set -e), the README's recipes stop at a failed download, and install when it works", async () => {
  const lines = readFileSync(join(ROOT, "README.md"), "utf8").split("\n").map((l) => l.replace(/^\s*- /, ""));
  const starts = lines.flatMap((l, i) => (/^installer=\$\(curl [^)]*\)$/.test(l) ? [i] : []));
  expect(starts.length).toBeGreaterThanOrEqual(2); // the two-command form, and the GitLab recipe
  // Every recipe line that downloads is either the one-liner for a terminal (tested above) or one of these.
  const downloads = lines.filter((l) => l.startsWith("installer=$(curl"));
  expect(downloads.length - starts.length).toBe(1);
  for (const i of starts) {
    expect(lines[i + 1]).toBe('sh -c "$installer" install.sh');
    const script = `${lines[i]}\n${lines[i + 1]}\necho after-install\n`;
    for (const shell of [["bash", "-eo", "pipefail"], ["sh", "-e"]]) {
      const home = mkdtempSync(join(tmpdir(), "kraal-home-"));
      const run = async (from: string) => {
        const p = Bun.spawn([...shell, "-c", script.replace("https://github.com/kraal-dev/kraal/releases", from)], { env: { PATH: process.env.PATH!, HOME: home, KRAAL_DOWNLOAD_URL: server.url }, stdout: "pipe", stderr: "pipe" });
        const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
        return { out, code };
      };
      const failed = await run(`${server.url}/missing`);
      expect(failed.code).not.toBe(0);
      expect(failed.out).not.toContain("after-install");
      const ok = await run(server.url);
      expect(ok.code).toBe(0);
      expect(ok.out).toContain("after-install");
      expect(versionOf(bin(home))).toStartWith(`kraal ${pkg.version} `);
    }
  }
}, INSTALL_TIMEOUT_MS);
