import { readdirSync } from "node:fs";
import { join } from "node:path";
import { readExitRecord } from "./exit-record.ts";
import { type HandleRead, readHandle } from "./handle.ts";
import { decodeId, encodeId } from "./id.ts";
import { currentIdentity, ownPgid, probeGroup, type ProcStat, readStat } from "./probes.ts";
import type { Layout } from "./state.ts";
import { probeCgroup } from "../sys/cgroup-ops.ts";
import { classify, type LeaderSeen, type Verdict, type VerdictProbes } from "./verdict.ts";

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
 * The machine-facing probes for the entries of one state directory (real /proc, real kill(2),
 * exit records). An exit record is read only when classify asks: for a leader that is gone, or has
 * renamed itself to say it wrote one (see verdict.ts), so listing or opening exits/ costs a running
 * agent nothing. One set serves every entry of a sweep.
 */
export function probesFor(l: Layout): VerdictProbes {
  return {
    identity: currentIdentity(),
    readStat,
    probeGroup,
    ownPgid: ownPgid(),
    probeCgroup,
    // The record sits under the handle's own file name: inspect rejects a handle whose id is not its name's before this.
    readExit: (pgid, id) => readExitRecord(join(l.exits, encodeId(id)), pgid),
  };
}

/** Reads and classifies pids/<name> (`listedAsFile`: the listing said it is a regular file; see readHandle). */
export function inspect(l: Layout, name: string, probes: VerdictProbes = probesFor(l), listedAsFile = false): Entry {
  const path = join(l.pids, name);
  const id = decodeId(name);
  const read = readHandle(path, listedAsFile);
  if (id === null && read.kind !== "missing") {
    return { name, id, path, read, verdict: { state: "corrupt", reason: "file name is not an encoded agent id", ours: false } };
  }
  // A handle must be under its own id's name; anything else is checked no further (nor is its id encoded).
  if (read.kind === "handle" && read.handle.id !== id) {
    return { name, id, path, read, verdict: { state: "corrupt", reason: `records id ${JSON.stringify(read.handle.id)}, not its file name's`, ours: false } };
  }
  // Keeps the leader's stat the verdict reads, so a row built from this entry need not read it again.
  const seen: LeaderSeen = {};
  const verdict = classify(read, probes, seen);
  return { name, id, path, read, verdict, leaderStat: seen.leaderStat ?? null };
}

/**
 * Names in pids/ (handles and leftovers alike), sorted, and those the listing (d_type) says are
 * regular files; empty when the state dir does not exist yet.
 */
export function listNames(l: Layout): { names: string[]; files: Set<string> } {
  const names: string[] = [];
  const files = new Set<string>();
  try {
    for (const d of readdirSync(l.pids, { withFileTypes: true })) {
      names.push(d.name);
      if (d.isFile()) files.add(d.name);
    }
  } catch {}
  return { names: names.sort(), files };
}

/** A dot-file in pids/ is kraal's own temp file from an atomic write, never a handle. */
export const isTempName = (name: string) => name.startsWith(".");
