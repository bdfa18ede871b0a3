import { describe, expect, test } from "bun:test";
import type { ExitRecord } from "../../src/handle/exit-record.ts";
import type { HandleRead } from "../../src/handle/handle.ts";
import type { GroupProbe, ProcStat } from "../../src/handle/probes.ts";
import { classify, ENDED_COMM, type VerdictProbes } from "../../src/handle/verdict.ts";
import { sampleHandle } from "../helpers.ts";

const me = { bootId: "boot", host: "host", uid: 0 };
const file = { ino: 1, size: 10, mtimeMs: 1, uid: 0 };

function probes(o: { stat?: ProcStat | null; group?: GroupProbe; exit?: ExitRecord | null; own?: number } = {}): VerdictProbes {
  return {
    ownPgid: o.own ?? 1,
    identity: me,
    readStat: () => (o.stat === undefined ? { comm: "sh", state: "S", pgrp: 4242, startTicks: 1000, cpuTicks: 0, rssPages: 0 } : o.stat),
    probeGroup: () => o.group ?? "alive",
    readExit: () => o.exit ?? null,
  };
}
const read = (over = {}, f = file): HandleRead => ({ kind: "handle", handle: sampleHandle(over), file: f });
const exitRec: ExitRecord = { pgid: 4242, endedAt: 5, exitCode: 3, signal: null };

const cg = { tier: "cgroup" as const, cgroup: { path: "/sys/fs/cgroup/kraal/x", ino: 7 } };
const withCgroup = (o: Parameters<typeof probes>[0], cgroup: "populated" | "empty" | "gone"): VerdictProbes => ({ ...probes(o), probeCgroup: () => cgroup });

describe("verdicts: is this handle ours, and in what state?", () => {
  test("the recorded leader, alive with its start time: running and ours", () => {
    expect(classify(read(), probes())).toMatchObject({ state: "running", ours: true });
  });

  test("same pid, other start time: the pid was reused; stale, never ours", () => {
    expect(classify(read(), probes({ stat: { comm: "sh", state: "S", pgrp: 4242, startTicks: 999, cpuTicks: 0, rssPages: 0 } }))).toMatchObject({ state: "stale", reason: "pid reused", ours: false });
    expect(classify(read(), probes({ stat: { comm: "sh", state: "S", pgrp: 77, startTicks: 1000, cpuTicks: 0, rssPages: 0 } }))).toMatchObject({ state: "stale", ours: false });
  });

  test("a zombie leader with its exit record counts as exited, even though kill(-pgid, 0) succeeds", () => {
    expect(classify(read(), probes({ stat: { comm: "sh", state: "Z", pgrp: 4242, startTicks: 1000, cpuTicks: 0, rssPages: 0 }, group: "alive", exit: exitRec }))).toMatchObject({ state: "exited", ours: false });
  });

  test("a detached wrapper dead (zombie or reaped) without an exit record: orphaned, ours, to be ended", () => {
    for (const stat of [{ comm: "sh", state: "Z", pgrp: 4242, startTicks: 1000, cpuTicks: 0, rssPages: 0 }, null]) {
      const v = classify(read(), probes({ stat, group: "alive" }));
      expect(v).toMatchObject({ state: "running", reason: "wrapper killed", ours: true, orphaned: true });
    }
  });

  test("an attached wrapper gone without a record is left to its supervisor: never orphaned", () => {
    expect(classify(read({ mode: "run" }), probes({ stat: { comm: "sh", state: "Z", pgrp: 4242, startTicks: 1000, cpuTicks: 0, rssPages: 0 }, group: "alive" }))).toMatchObject({ state: "exited", ours: false });
    expect(classify(read({ mode: "up" }), probes({ stat: null, group: "alive" }))).toMatchObject({ state: "running", ours: true });
    expect(classify(read({ mode: "up" }), probes({ stat: null, group: "alive" })).orphaned).toBeUndefined();
  });

  test("the caller's own group: shown as running, never ours to signal, never probed", () => {
    const v = classify(read(), probes({ own: 4242, stat: null, group: "gone" }));
    expect(v).toMatchObject({ state: "running", reason: "kraal's own process group", ours: false, self: true });
    const legacy: HandleRead = { kind: "legacy", pgid: 4242, file };
    expect(classify(legacy, probes({ own: 4242 }))).toMatchObject({ state: "unverified", self: true, ours: false });
  });

  test("a live leader whose group no signal of ours reaches (EPERM): foreign", () => {
    expect(classify(read(), probes({ group: "eperm" }))).toMatchObject({ state: "foreign", reason: "group belongs to another user (EPERM)", ours: false });
  });

  test("leader and group gone: exited, with the wrapper's exit record when there is one", () => {
    expect(classify(read(), probes({ stat: null, group: "gone" }))).toMatchObject({ state: "exited", ours: false });
    expect(classify(read(), probes({ stat: null, group: "gone", exit: exitRec }))).toMatchObject({ state: "exited", exit: exitRec });
  });

  test("the wrapper still clearing leftovers after its agent ended (it has renamed itself): exited, but ours until it is gone", () => {
    const ended = { comm: ENDED_COMM, state: "S", pgrp: 4242, startTicks: 1000, cpuTicks: 0, rssPages: 0 };
    expect(classify(read(), probes({ stat: ended, exit: exitRec }))).toMatchObject({ state: "exited", ours: true });
    expect(classify(read(cg), withCgroup({ stat: ended, exit: exitRec }, "populated"))).toMatchObject({ state: "exited", reason: "cleaning up its cgroup", ours: true });
  });

  test("a handle written before wrappers renamed themselves (an older kraal's agent): a live wrapper's exit record is still read", () => {
    const old = read({ endedComm: undefined });
    expect(classify(old, probes({ exit: exitRec }))).toMatchObject({ state: "exited", reason: "cleaning up its group", ours: true, exit: exitRec });
    expect(classify(read({ ...cg, endedComm: undefined }), withCgroup({ exit: exitRec }, "populated"))).toMatchObject({ state: "exited", ours: true, exit: exitRec });
    expect(classify(old, probes())).toMatchObject({ state: "running", ours: true });
  });

  test("a live wrapper that has not renamed itself has recorded nothing yet: its exit record is not even read", () => {
    let reads = 0;
    const p = { ...probes({ exit: exitRec }), readExit: () => (reads++, exitRec) };
    expect(classify(read(), p)).toMatchObject({ state: "running", ours: true });
    expect(classify(read(cg), { ...p, probeCgroup: () => "populated" as const })).toMatchObject({ state: "running", ours: true });
    expect(reads).toBe(0);
  });

  test("EPERM holds the number for someone else: foreign", () => {
    expect(classify(read(), probes({ stat: null, group: "eperm" }))).toMatchObject({ state: "foreign", ours: false });
  });

  test("other boot: stale; other host or user: foreign; a file owned by someone else: foreign", () => {
    expect(classify(read({ bootId: "old" }), probes())).toMatchObject({ state: "stale", reason: "other boot", ours: false });
    expect(classify(read({ host: "elsewhere" }), probes())).toMatchObject({ state: "foreign", ours: false });
    expect(classify(read({ uid: 1000 }), probes())).toMatchObject({ state: "foreign", ours: false });
    expect(classify(read({}, { ...file, uid: 1000 }), probes())).toMatchObject({ state: "foreign", ours: false });
  });

  test("legacy handles are unverified while their group lives, exited after; never ours", () => {
    const legacy: HandleRead = { kind: "legacy", pgid: 4242, file };
    expect(classify(legacy, probes({ group: "alive" }))).toMatchObject({ state: "unverified", ours: false });
    expect(classify(legacy, probes({ stat: null, group: "alive" }))).toMatchObject({ state: "unverified", ours: false });
    expect(classify(legacy, probes({ stat: null, group: "gone" }))).toMatchObject({ state: "exited", ours: false });
    expect(classify(legacy, probes({ stat: { comm: "sh", state: "Z", pgrp: 4242, startTicks: 1, cpuTicks: 0, rssPages: 0 }, group: "alive" }))).toMatchObject({ state: "exited", ours: false });
  });

  test("corrupt stays corrupt", () => {
    expect(classify({ kind: "corrupt", reason: "is a FIFO" }, probes())).toMatchObject({ state: "corrupt", reason: "is a FIFO", ours: false });
  });
});

describe("verdicts in the cgroup tier: populated is the liveness of everything the agent started", () => {
  const zombie = { comm: "sh", state: "Z", pgrp: 4242, startTicks: 1000, cpuTicks: 0, rssPages: 0 };

  test("the wrapper alive: running, whatever the cgroup says", () => {
    expect(classify(read(cg), withCgroup({}, "populated"))).toMatchObject({ state: "running", ours: true });
  });

  test("the agent ended on its own, members left in the very cgroup recorded: leftovers, ours, to be ended", () => {
    for (const stat of [zombie, null]) {
      expect(classify(read(cg), withCgroup({ stat, exit: exitRec, group: "gone" }, "populated"))).toMatchObject({ state: "exited", ours: true, leftovers: true });
    }
  });

  test("the wrapper killed alone while the cgroup is populated: orphaned (spawn), or left to the supervisor (run, up)", () => {
    expect(classify(read(cg), withCgroup({ stat: null, group: "gone" }, "populated"))).toMatchObject({ state: "running", ours: true, orphaned: true });
    expect(classify(read({ ...cg, mode: "up" }), withCgroup({ stat: null, group: "gone" }, "populated")).orphaned).toBeUndefined();
  });

  test("an empty cgroup, or one recreated under the same name (another inode): exited, never ours, even if the pgid answers", () => {
    for (const state of ["empty", "gone"] as const) {
      expect(classify(read(cg), withCgroup({ stat: null, group: "alive" }, state))).toMatchObject({ state: "exited", ours: false });
      expect(classify(read(cg), withCgroup({ stat: zombie, exit: exitRec, group: "alive" }, state))).toMatchObject({ state: "exited", ours: false });
    }
  });

  test("a handle of the group tier (or from before tiers) is never judged by a cgroup", () => {
    expect(classify(read({ tier: "group" }), withCgroup({ stat: null, group: "gone" }, "populated"))).toMatchObject({ state: "exited", ours: false });
  });
});
