/**
 * Where each command's time goes, measured: scripts/bench-probe.ts (kraal's own functions called
 * in the order the command calls them, compiled with kraal's flags) times each step from inside,
 * interleaved with the real command so both see the same machine. Returns a Markdown section.
 */
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { compileLikeKraal } from "./bench-compile.ts";
import { scratchDir } from "./bench-scratch.ts";

const ROOT = resolve(import.meta.dir, "..");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

type Env = Record<string, string>;

function timed(argv: string[], env: Env): { ms: number; stderr: string } {
  const t = performance.now();
  const r = Bun.spawnSync(argv, { env, stdout: "ignore", stderr: "pipe" });
  const ms = performance.now() - t;
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed (${r.exitCode}): ${r.stderr}`);
  return { ms, stderr: r.stderr.toString() };
}

interface Sample {
  steps: Record<string, number>;
  probeMs: number;
  kraalMs: number;
}

/** Runs the probe and the real command alternately; medians of every step and of both walls. */
function sample(runs: number, probe: () => { ms: number; stderr: string }, real: () => number, between?: () => void): Sample {
  const steps: Record<string, number[]> = {};
  const probeMs: number[] = [];
  const kraalMs: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const p = probe();
    between?.();
    const k = real();
    between?.();
    if (i < 2) continue; // warm-up
    probeMs.push(p.ms);
    kraalMs.push(k);
    const line = p.stderr.trim().split("\n").at(-1)!;
    for (const [name, ms] of Object.entries(JSON.parse(line) as Record<string, number>)) (steps[name] ??= []).push(ms);
  }
  return { steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, median(v)])), probeMs: median(probeMs), kraalMs: median(kraalMs) };
}

const fmt = (ms: number) => ms.toFixed(2);

function table(title: string, s: Sample): string {
  const inside = Object.entries(s.steps).filter(([k]) => !k.endsWith("(repeat)")).reduce((a, [, v]) => a + v, 0);
  const rows = Object.entries(s.steps).map(([k, v]) => `| ${k.endsWith("(repeat)") ? `↳ ${k}` : k} | ${fmt(v)} |`);
  return [
    `**${title}**: the real command ${fmt(s.kraalMs)} ms, the probe ${fmt(s.probeMs)} ms wall (${fmt(inside)} ms inside, so ${fmt(s.probeMs - inside)} ms are process creation before Bun's clock starts plus exit).`,
    "",
    "| step | ms |",
    "|---|---|",
    ...rows,
  ].join("\n");
}

export async function breakdown(opts: { bin: string; runs: number; env: Env }): Promise<string> {
  const probe = await compileLikeKraal(join(ROOT, "scripts/bench-probe.ts"), join(ROOT, ".cache/bench/probe"));
  const dir = scratchDir("kraal-bench-breakdown-");
  const env: Env = { ...opts.env, KRAAL_DIR: dir };
  const kraal = (...args: string[]) => timed([opts.bin, ...args], env).ms;
  const sections: string[] = [];
  try {
    const run = sample(opts.runs, () => timed([probe, "run"], env), () => kraal("run", "--", "true"));
    sections.push(table("`kraal run -- true`", run));

    let sp = 0;
    let sk = 0;
    const spawnS = sample(opts.runs, () => timed([probe, "spawn", `p${sp++}`], env), () => kraal("spawn", `k${sk++}`, "--", "sleep", "1000"));
    sections.push(table("`kraal spawn ID -- sleep 1000`", spawnS));
    let kp = 0;
    let kk = 0;
    const killS = sample(opts.runs, () => timed([probe, "kill", `p${kp++}`], env), () => kraal("kill", `k${kk++}`));
    sections.push(table("`kraal kill ID` (TERM-respecting agent)", killS));
    timed([opts.bin, "kill", "--all"], env);

    // ps in the group tier (as its target is measured), then what the cgroup tier's census adds.
    const group: Env = { ...env, KRAAL_TIER: "group" };
    for (let a = 0; a < 100; a++) timed([opts.bin, "spawn", `a${a}`, "--", "sleep", "1000"], group);
    sections.push(table("`kraal ps`, 100 running agents, group tier", sample(opts.runs, () => timed([probe, "ps"], group), () => timed([opts.bin, "ps"], group).ms)));
    sections.push(table("`kraal ps --json`, 100 running agents, group tier", sample(opts.runs, () => timed([probe, "ps-json"], group), () => timed([opts.bin, "ps", "--json"], group).ms)));
    timed([opts.bin, "kill", "--all"], env);
    const cgroup: Env = { ...env, KRAAL_TIER: "cgroup" };
    if (Bun.spawnSync([opts.bin, "spawn", "probe-tier", "--", "true"], { env: cgroup, stdout: "ignore", stderr: "ignore" }).exitCode === 0) {
      for (let a = 0; a < 100; a++) timed([opts.bin, "spawn", `c${a}`, "--", "sleep", "1000"], cgroup);
      sections.push(table("`kraal ps`, 100 running agents, cgroup tier (rows: the census of each agent's cgroup)", sample(opts.runs, () => timed([probe, "ps"], cgroup), () => timed([opts.bin, "ps"], cgroup).ms)));
    }
  } finally {
    Bun.spawnSync([opts.bin, "kill", "--all"], { env, stdout: "ignore", stderr: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  }
  return ["### Where the time goes", "", `Medians of ${opts.runs} runs of scripts/bench-probe.ts, interleaved with the real command.`, "", sections.join("\n\n")].join("\n");
}
