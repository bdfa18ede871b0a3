import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentCgroupName, cgroupDir, detectContainment, parseMountinfo, parseProcCgroup, requireTier, statePrefix } from "../../src/sys/cgroup.ts";

const HYBRID = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

describe("finding the cgroup v2 hierarchy", () => {
  test("mountinfo: the cgroup2 line, with optional fields and escaped paths", () => {
    expect(parseMountinfo(HYBRID)).toEqual({ mountPoint: "/sys/fs/cgroup/unified", root: "/" });
    expect(parseMountinfo("29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate\n")).toEqual({ mountPoint: "/sys/fs/cgroup", root: "/" });
    expect(parseMountinfo("29 23 0:26 /a\\040b /mnt/c\\040g rw - cgroup2 none rw\n")).toEqual({ mountPoint: "/mnt/c g", root: "/a b" });
    expect(parseMountinfo("31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")).toBeNull();
    expect(parseMountinfo("")).toBeNull();
  });

  test("/proc/self/cgroup: the 0:: line only", () => {
    expect(parseProcCgroup("9:name=systemd:/\n4:memory:/x\n0::/user.slice/a.scope\n")).toBe("/user.slice/a.scope");
    expect(parseProcCgroup("4:memory:/x\n")).toBeNull();
  });

  test("a cgroup's directory under a mount that shows the root or a subtree", () => {
    expect(cgroupDir({ mountPoint: "/sys/fs/cgroup", root: "/" }, "/")).toBe("/sys/fs/cgroup");
    expect(cgroupDir({ mountPoint: "/sys/fs/cgroup/", root: "/" }, "/a/b")).toBe("/sys/fs/cgroup/a/b");
    expect(cgroupDir({ mountPoint: "/cg", root: "/ns" }, "/ns/x")).toBe("/cg/x");
    expect(cgroupDir({ mountPoint: "/cg", root: "/ns" }, "/nsx")).toBeNull();
    expect(cgroupDir({ mountPoint: "/cg", root: "/ns" }, "/other")).toBeNull();
  });

  test("names: one per state directory and id, prefixed by the state directory's hash", () => {
    const a = agentCgroupName("/s1", "x");
    expect(a).toMatch(/^k[0-9a-f]{12}-[0-9a-f]{16}$/);
    expect(a.startsWith(statePrefix("/s1"))).toBe(true);
    expect(agentCgroupName("/s1", "x")).toBe(a);
    expect(agentCgroupName("/s1", "y")).not.toBe(a);
    expect(agentCgroupName("/s2", "x").startsWith(statePrefix("/s1"))).toBe(false);
  });
});

describe("choosing the tier", () => {
  /** A fake /proc whose self/ shows a cgroup2 mount at `mount` and own cgroup `own`. */
  function fakeProc(mount: string | null, own: string): string {
    const root = mkdtempSync(join(tmpdir(), "kraal-cgproc-"));
    mkdirSync(join(root, "self"));
    writeFileSync(join(root, "self/mountinfo"), mount ? `40 30 0:37 / ${mount} rw - cgroup2 cgroup2 rw\n` : HYBRID.split("\n")[1]!);
    writeFileSync(join(root, "self/cgroup"), `0::${own}\n`);
    return root;
  }

  test("no cgroup2 mount: group tier, and the check says why", () => {
    const p = fakeProc(null, "/");
    try {
      const c = detectContainment({}, p);
      expect(c.tier).toBe("group");
      expect(c.checks[0]).toMatchObject({ what: "cgroup v2 mount", ok: false });
      expect(() => requireTier(detectContainment({ KRAAL_TIER: "cgroup" }, p))).toThrow(/cgroup tier is not available here: cgroup v2 mount/);
      expect(requireTier(c)).toBe("group");
    } finally {
      rmSync(p, { recursive: true, force: true });
    }
  }, 10_000);

  test("a writable directory that looks like a cgroup: cgroup tier; KRAAL_TIER=group overrides", () => {
    const fake = mkdtempSync(join(tmpdir(), "kraal-cgfs-"));
    writeFileSync(join(fake, "cgroup.procs"), "");
    mkdirSync(join(fake, "me"));
    writeFileSync(join(fake, "me/cgroup.procs"), "");
    writeFileSync(join(fake, "me/cgroup.kill"), "");
    const p = fakeProc(fake, "/me");
    try {
      const c = detectContainment({}, p);
      expect(c.checks.filter((k) => !k.ok)).toEqual([]);
      expect(c).toMatchObject({ tier: "cgroup", base: join(fake, "me/kraal") });
      expect(detectContainment({ KRAAL_TIER: "group" }, p)).toMatchObject({ tier: "group", requested: "group" });
      expect(detectContainment({ KRAAL_CGROUP: join(fake, "me") }, p)).toMatchObject({ tier: "cgroup", base: join(fake, "me") });
      const missing = detectContainment({ KRAAL_CGROUP: join(fake, "nope") }, p);
      expect(missing.tier).toBe("group");
      expect(missing.checks.find((k) => !k.ok)?.what).toBe("base (KRAAL_CGROUP)");
      expect(detectContainment({ KRAAL_TIER: "pidns" }, p).checks[0]).toMatchObject({ what: "KRAAL_TIER", ok: false });
    } finally {
      rmSync(p, { recursive: true, force: true });
      rmSync(fake, { recursive: true, force: true });
    }
  }, 10_000);

  test("this machine: the real mount and own cgroup are found", () => {
    const c = detectContainment({});
    const mount = c.checks.find((k) => k.what === "cgroup v2 mount")!;
    if (!mount.ok) return; // a cgroup v1-only host: the group tier, covered above
    expect(c.checks.find((k) => k.what === "own cgroup")?.ok).toBe(true);
    if (process.getuid?.() === 0) expect(c.tier).toBe("cgroup");
    // The kernel release, read from /proc, is uname's (os.release()).
    const kill = c.checks.find((k) => k.what === "cgroup.kill");
    if (kill) expect(kill.detail).toContain(`kernel ${require("node:os").release()}`);
  }, 10_000);
});

describe("the members of a cgroup tree", () => {
  const base = process.env.KRAAL_CGROUP;
  test.skipIf(!base)("members of child cgroups are found (a cgroup's link count tells whether it has any)", async () => {
    const { cgroupTreeMembers } = await import("../../src/sys/cgroup-ops.ts");
    const top = join(base!, `tree-${process.pid}`);
    const child = join(top, "nested");
    mkdirSync(child, { recursive: true });
    const inTop = Bun.spawn(["sleep", "1000"], { cgroup: top } as any);
    const inChild = Bun.spawn(["sleep", "1000"], { cgroup: child } as any);
    try {
      expect(cgroupTreeMembers(top).sort()).toEqual([inTop.pid, inChild.pid].sort());
      expect(cgroupTreeMembers(child)).toEqual([inChild.pid]);
    } finally {
      inTop.kill("SIGKILL");
      inChild.kill("SIGKILL");
      await Promise.all([inTop.exited, inChild.exited]);
      const { readEvents, removeCgroup } = await import("../../src/sys/cgroup-ops.ts");
      const deadline = performance.now() + 5000;
      while (readEvents(top)?.populated && performance.now() < deadline) await Bun.sleep(5);
      removeCgroup(child);
      removeCgroup(top);
    }
  });
});
