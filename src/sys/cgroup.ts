// Layer sys/: where the cgroup v2 hierarchy is, which cgroup kraal runs in, and whether kraal may
// make agent cgroups there. Targeted reads of /proc/self/mountinfo and /proc/self/cgroup only.
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { KraalError } from "../base/errors.ts";

/** The containment tiers: "cgroup" (escape-proof, cgroup v2) and "group" (a process group). */
export type Tier = "cgroup" | "group";

/** The cgroup v2 mount: where it is in this mount namespace, and which cgroup its root shows. */
export interface CgroupMount {
  mountPoint: string;
  /** The cgroup (relative to our cgroup namespace) that the mount point shows; "/" usually. */
  root: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/**
 * The first cgroup2 mount in the text of /proc/self/mountinfo, or null (a cgroup v1-only host,
 * or no cgroup filesystem mounted). Fields: id parent maj:min root mountpoint opts [optional...] - fstype ...
 */
export function parseMountinfo(text: string): CgroupMount | null {
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0 || !line.slice(sep + 3).startsWith("cgroup2 ")) continue;
    const f = line.slice(0, sep).split(" ");
    if (f.length < 6) continue;
    return { mountPoint: unescape(f[4]!), root: unescape(f[3]!) };
  }
  return null;
}

/** The v2 cgroup of the process, from the `0::` line of /proc/<pid>/cgroup; null when there is none. */
export function parseProcCgroup(text: string): string | null {
  for (const line of text.split("\n")) if (line.startsWith("0::")) return line.slice(3) || null;
  return null;
}

/** Where cgroup `path` (as /proc/self/cgroup names it) is on disk; null when the mount does not show it. */
export function cgroupDir(m: CgroupMount, path: string): string | null {
  const root = m.root === "/" ? "" : m.root;
  if (root && path !== root && !path.startsWith(`${root}/`)) return null;
  const rel = path.slice(root.length).replace(/\/+$/, "");
  return `${m.mountPoint.replace(/\/+$/, "")}${rel}` || "/";
}

/** One line of `kraal doctor`: a fact checked, whether it holds, and the fix when it does not. */
export interface Check {
  what: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** What this machine offers: the tier an agent spawned now gets, the base its cgroups go in, and why. */
export interface Containment {
  tier: Tier;
  /** The directory agent cgroups are made in (cgroup tier only). */
  base?: string;
  /** KRAAL_TIER when set. */
  requested?: Tier;
  checks: Check[];
}

const writable = (p: string) => {
  try {
    accessSync(p, constants.W_OK);
    return true;
  } catch {
    return false;
  }
};
const isDir = (p: string) => statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
const readOrNull = (p: string) => {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return null;
  }
};

/** The name of the subtree kraal makes in its own cgroup when KRAAL_CGROUP is not set. */
export const OWN_SUBTREE = "kraal";
/** cgroup.kill appeared in Linux 5.14. */
const KILL_SINCE: [number, number] = [5, 14];

function kernelAtLeast(r: string, [maj, min]: [number, number]): boolean {
  const m = /^(\d+)\.(\d+)/.exec(r);
  return !!m && (Number(m[1]) > maj || (Number(m[1]) === maj && Number(m[2]) >= min));
}

/**
 * Looks at this machine (read-only: nothing is created) and decides the tier: "cgroup" when a
 * cgroup v2 hierarchy is mounted, a base directory is writable (KRAAL_CGROUP, else a `kraal`
 * subtree of our own cgroup), processes may be moved into it (write access to the common
 * ancestor's cgroup.procs, which is our own cgroup's here), and the kernel has cgroup.kill.
 * Else "group". KRAAL_TIER=group|cgroup overrides; an unusable forced cgroup tier still reports
 * "group" with the failing check, and `requireTier` turns that into an error for spawn.
 */
export function detectContainment(env: Record<string, string | undefined> = process.env, procRoot = "/proc"): Containment {
  const requested = env.KRAAL_TIER === "group" || env.KRAAL_TIER === "cgroup" ? (env.KRAAL_TIER as Tier) : undefined;
  const checks: Check[] = [];
  const done = (ok: boolean, base?: string): Containment => ({
    tier: ok && requested !== "group" ? "cgroup" : "group",
    ...(ok && requested !== "group" ? { base } : {}),
    ...(requested ? { requested } : {}),
    checks,
  });
  if (env.KRAAL_TIER !== undefined && !requested) {
    checks.push({ what: "KRAAL_TIER", ok: false, detail: `${JSON.stringify(env.KRAAL_TIER)} is not a tier`, fix: "set KRAAL_TIER=cgroup or KRAAL_TIER=group, or unset it" });
  }
  const mount = parseMountinfo(readOrNull(`${procRoot}/self/mountinfo`) ?? "");
  checks.push(mount
    ? { what: "cgroup v2 mount", ok: true, detail: mount.mountPoint }
    : { what: "cgroup v2 mount", ok: false, detail: "no cgroup2 filesystem in /proc/self/mountinfo (a cgroup v1-only host?)", fix: "boot with systemd.unified_cgroup_hierarchy=1, or mount one: mount -t cgroup2 none /sys/fs/cgroup/unified" });
  if (!mount) return done(false);
  const own = parseProcCgroup(readOrNull(`${procRoot}/self/cgroup`) ?? "");
  const ownDir = own === null ? null : cgroupDir(mount, own);
  checks.push(ownDir
    ? { what: "own cgroup", ok: true, detail: `${own} (${ownDir})` }
    : { what: "own cgroup", ok: false, detail: own === null ? "no 0:: line in /proc/self/cgroup" : `${own} is not visible under ${mount.mountPoint}`, fix: "run kraal in a cgroup namespace whose cgroup2 mount shows its own cgroup" });
  if (!ownDir) return done(false);

  const given = env.KRAAL_CGROUP;
  const base = given ? given.replace(/\/+$/, "") : `${ownDir === "/" ? "" : ownDir}/${OWN_SUBTREE}`;
  let baseOk: boolean;
  if (given) {
    baseOk = given.startsWith("/") && isDir(given) && existsSync(`${given}/cgroup.procs`) && writable(given);
    checks.push(baseOk
      ? { what: "base (KRAAL_CGROUP)", ok: true, detail: base }
      : { what: "base (KRAAL_CGROUP)", ok: false, detail: `${given} is not a writable cgroup v2 directory`, fix: `create it and give it to this user: mkdir ${given} && chown -R $(id -u) ${given}` });
  } else {
    baseOk = isDir(base) ? writable(base) : writable(ownDir);
    checks.push(baseOk
      ? { what: "base (own subtree)", ok: true, detail: base }
      : { what: "base (own subtree)", ok: false, detail: `${isDir(base) ? base : ownDir} is not writable by uid ${process.getuid?.()}`, fix: "run as root, in a container with its own cgroup namespace, under systemd-run --user --scope -p Delegate=yes, or set KRAAL_CGROUP to a delegated directory" });
  }
  // Moving a process needs write access to the common ancestor's cgroup.procs; for the own
  // subtree that is our own cgroup, for KRAAL_CGROUP whatever the two paths share.
  if (!baseOk) return done(false);
  const ancestor = commonAncestor(ownDir, base);
  const moveOk = writable(`${ancestor}/cgroup.procs`);
  checks.push(moveOk
    ? { what: "move into base", ok: true, detail: `${ancestor}/cgroup.procs is writable` }
    : { what: "move into base", ok: false, detail: `${ancestor}/cgroup.procs is not writable (needed to start an agent inside ${base})`, fix: "delegate a subtree that contains kraal's own cgroup (systemd Delegate=yes), or run kraal from inside KRAAL_CGROUP" });
  const probe = [base, ownDir].find((d) => d !== mount.mountPoint && existsSync(`${d}/cgroup.procs`));
  // node:os only here, where it is needed (doctor, a tier check): loading it costs about 0.4 ms.
  const { release } = require("node:os") as typeof import("node:os");
  const killOk = probe ? existsSync(`${probe}/cgroup.kill`) : kernelAtLeast(release(), KILL_SINCE);
  checks.push(killOk
    ? { what: "cgroup.kill", ok: true, detail: `kernel ${release()}` }
    : { what: "cgroup.kill", ok: false, detail: `kernel ${release()} has no cgroup.kill (needs Linux 5.14 or newer)`, fix: "upgrade the kernel to 5.14 or newer" });
  return done(baseOk && moveOk && killOk, base);
}

function commonAncestor(a: string, b: string): string {
  const x = a.split("/");
  const y = b.split("/");
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  return x.slice(0, i).join("/") || "/";
}

/**
 * The tier for a new agent: the detected one, except that KRAAL_TIER=cgroup on a machine that
 * cannot give it is an error (E_NO_CGROUP) naming the first failing check and its fix.
 */
export function requireTier(c: Containment): Tier {
  if (c.requested === "cgroup" && c.tier !== "cgroup") {
    const bad = c.checks.find((k) => !k.ok);
    throw new KraalError("E_NO_CGROUP", `KRAAL_TIER=cgroup, but the cgroup tier is not available here: ${bad ? `${bad.what}: ${bad.detail}` : "unknown reason"}`, {
      hint: bad?.fix ? `${bad.fix} (details: kraal doctor)` : "see: kraal doctor",
    });
  }
  return c.tier;
}

/**
 * The name of one agent's cgroup: a hash of the state directory, then a hash of state directory
 * and id. The first part lets a sweep recognise its own state directory's cgroups and leave every
 * other one alone; neither part can be forged into another state directory's name.
 */
export function agentCgroupName(stateDir: string, id: string): string {
  const h = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");
  return `${statePrefix(stateDir)}${h(`${stateDir}\0${id}`).slice(0, 16)}`;
}

/** The prefix every agent cgroup of one state directory has. */
export function statePrefix(stateDir: string): string {
  return `k${new Bun.CryptoHasher("sha256").update(stateDir).digest("hex").slice(0, 12)}-`;
}
