import { readdirSync } from "node:fs";
import { join } from "node:path";
import { readExitRecord } from "./exit-record.ts";
import { type HandleRead, readHandle } from "./handle.ts";
import { decodeId } from "./id.ts";
import { currentIdentity, ownPgid, probeGroup, type ProcStat, readStat } from "./probes.ts";
import type { Layout } from "./state.ts";
import { probeCgroup } from "../sys/cgroup-ops.ts";
import { classify, type Verdict, type VerdictProbes } from "./verdict.ts";

/** One entry of pids/ with what it is and what state its agent is in. */
export interface Entry {
  name: string;
  /** The decoded agent id; null when the file name is not one kraal writes. */
  id: string | null;
  path: string;
  read: HandleRead;
  verdict: Verdict;
  /** The leader's /proc/<pid>/stat as the verdict read it (null: gone or never read). */
  leaderStat?: ProcStat | null;
}

/**
 * The machine-facing probes for one entry (real /proc, real kill(2), its exit record). The exit
 * record is read only when classify asks: for a leader that is gone, or has renamed itself to say
 * it wrote one (see verdict.ts), so listing or opening exits/ costs a running agent nothing.
 */
export function probesFor(l: Layout, name: string): VerdictProbes {
  return {
    identity: currentIdentity(),
    readStat,
    probeGroup,
    ownPgid: ownPgid(),
    probeCgroup,
    readExit: (pgid) => readExitRecord(join(l.exits, name), pgid),
  };
}

/** Reads and classifies pids/<name>. */
export function inspect(l: Layout, name: string, probes: VerdictProbes = probesFor(l, name)): Entry {
  const path = join(l.pids, name);
  const id = decodeId(name);
  const read = readHandle(path);
  if (id === null && read.kind !== "missing") {
    return { name, id, path, read, verdict: { state: "corrupt", reason: "file name is not an encoded agent id", ours: false } };
  }
  // Keeps the leader's stat the verdict reads, so a row built from this entry need not read it again.
  let leaderStat: ProcStat | null = null;
  const pgid = read.kind === "handle" ? read.handle.pgid : -1;
  const verdict = classify(read, { ...probes, readStat: (pid) => (pid === pgid ? (leaderStat = probes.readStat(pid)) : probes.readStat(pid)) });
  if (verdict.handle && verdict.handle.id !== id) {
    return { name, id, path, read, verdict: { state: "corrupt", reason: `records id ${JSON.stringify(verdict.handle.id)}, not its file name's`, ours: false } };
  }
  return { name, id, path, read, verdict, leaderStat };
}

/** Names in pids/ (handles and leftovers alike); empty when the state dir does not exist yet. */
export function listNames(l: Layout): string[] {
  try {
    return readdirSync(l.pids).sort();
  } catch {
    return [];
  }
}

/** A dot-file in pids/ is kraal's own temp file from an atomic write, never a handle. */
export const isTempName = (name: string) => name.startsWith(".");
