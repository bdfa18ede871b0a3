// The action's main step: download kraal like scripts/install.sh does (verified against
// SHA256SUMS), put it on PATH, and point KRAAL_DIR at one state directory under $RUNNER_TEMP
// so every later step, and the post step, share it.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addPath, defaultDownloadUrl, detectTarget, download, exportVariable, fail, input, saveState, setOutput, verifyChecksum } from "./lib.mjs";

async function main() {
  const version = input("version").replace(/^v/, "");
  const base = input("download-url", defaultDownloadUrl()).replace(/\/+$/, "");
  const temp = process.env.RUNNER_TEMP;
  if (!temp) throw new Error("$RUNNER_TEMP is not set: is this running in GitHub Actions?");
  const target = detectTarget();
  const asset = `kraal-${target}.tar.gz`;
  const from = version ? `${base}/download/v${version}` : `${base}/latest/download`;
  console.log(`kraal: downloading ${asset} (${version || "latest"}) from ${from}`);
  const [tarball, sums] = await Promise.all([download(`${from}/${asset}`), download(`${from}/SHA256SUMS`)]);
  verifyChecksum(tarball, asset, sums.toString("utf8"));

  const root = join(temp, "kraal");
  const binDir = join(root, "bin");
  const stateDir = join(root, "state");
  mkdirSync(binDir, { recursive: true });
  mkdirSync(stateDir, { recursive: true, mode: 0o700 }); // kraal refuses a state directory others may write
  writeFileSync(join(root, asset), tarball);
  execFileSync("tar", ["-xzf", join(root, asset), "-C", binDir, "kraal"]);
  const bin = join(binDir, "kraal");
  chmodSync(bin, 0o755);
  const reported = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
  const installed = /^kraal (\S+)/.exec(reported)?.[1];
  if (!installed) throw new Error(`the downloaded kraal does not run here (target ${target}): ${reported}`);

  addPath(binDir);
  exportVariable("KRAAL_DIR", stateDir);
  setOutput("version", installed);
  setOutput("path", bin);
  setOutput("state-dir", stateDir);
  saveState("bin", bin);
  saveState("dir", stateDir);
  console.log(`kraal: installed ${reported} to ${bin}; KRAAL_DIR=${stateDir}`);
}

main().catch((e) => fail(`kraal: ${e.message}`));
