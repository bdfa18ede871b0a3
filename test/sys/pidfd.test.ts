import { describe, expect, test } from "bun:test";
import { openPidfd, pidfdSupport } from "../../src/sys/pidfd.ts";
import { canSetPid, isDeadOrZombie, isRunning, spawnWithPid, track, waitUntil } from "../helpers.ts";

/** A detached `sh -c script` (its own session and group), tracked for cleanup. */
function detached(script: string) {
  const p = Bun.spawn(["sh", "-c", script], { detached: true, stdio: ["ignore", "pipe", "ignore"] });
  track(p.pid);
  return p;
}

describe("pidfds", () => {
  test("this kernel and libc have pidfd_open and PIDFD_SIGNAL_PROCESS_GROUP", () => {
    expect(pidfdSupport()).toEqual({ open: true, groupSignal: true });
  }, 10_000);

  test("a wait on a pidfd ends when the process exits, not when the time is up", async () => {
    const p = detached("sleep 0.2");
    const fd = openPidfd(p.pid)!;
    try {
      expect(fd.waitExit(0)).toBe(false);
      const t0 = performance.now();
      expect(fd.waitExit(5000)).toBe(true);
      expect(performance.now() - t0).toBeLessThan(3000);
    } finally {
      fd.close();
    }
  }, 10_000);

  test("a group signal through the leader's pidfd reaches the members after the leader has exited and been reaped", async () => {
    const p = detached("sleep 1000 >/dev/null & echo $!; exec sleep 0.1");
    const fd = openPidfd(p.pid)!;
    try {
      const member = Number((await new Response(p.stdout).text()).trim());
      await p.exited; // Bun reaps the leader: its number is free, the group lives on in `member`
      expect(isRunning(member)).toBe(true);
      expect(fd.signal(15, true)).toBe("ok");
      await waitUntil(() => isDeadOrZombie(member), { what: "the member to die" });
    } finally {
      fd.close();
    }
  }, 10_000);

  test.skipIf(!canSetPid)("a pidfd outlives its number: once the pid is reused, signals through it reach no one", async () => {
    const p = detached("exec sleep 1000");
    const fd = openPidfd(p.pid)!;
    try {
      process.kill(-p.pid, "SIGKILL");
      await p.exited;
      const innocent = await spawnWithPid(p.pid);
      expect(innocent).toBe(p.pid);
      expect(fd.signal(9)).toBe("gone");
      expect(fd.signal(9, true)).toBe("gone");
      expect(fd.waitExit(0)).toBe(true);
      expect(isRunning(p.pid)).toBe(true); // the innocent that took the number
    } finally {
      fd.close();
    }
  }, 20_000);

  test("no such process: no pidfd", () => {
    expect(openPidfd(4_194_303)).toBeNull();
    expect(openPidfd(-1)).toBeNull();
  }, 5_000);
});
