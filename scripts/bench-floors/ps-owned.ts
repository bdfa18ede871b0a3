// The owned-ps floor (a second reference for ps, not a target's floor): the ps floor plus what the
// issues ask of every `ps` on top of proving the leader: the CLI's argument parser (citty, the
// project's chosen library), the state directory's trust check (a real directory of ours, not
// group/other-writable), each handle's file owner (lstat) and a signal probe of its group (EPERM:
// another user's group is shown foreign), and for --json the agent's pid, CPU and RSS (its
// children and their stat). No validation of fields, no sweep, no escaping, no widths.
//   ps-owned-floor STATE_DIR [--json]
import { lstatSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { parseArgs } from "citty";

const args = parseArgs(process.argv.slice(2), { dir: { type: "positional" }, json: { type: "boolean" } });
const dir = String(args.dir);
const json = Boolean(args.json);
const uid = process.getuid!();
for (const d of [dir, `${dir}/pids`]) {
  const st = lstatSync(d);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) throw new Error(`${d} is not ours`);
}
const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim();
const now = Date.now();
const statOf = (pid: number) => {
  const st = readFileSync(`/proc/${pid}/stat`, "latin1");
  return st.slice(st.lastIndexOf(")") + 2).split(" ");
};
const children = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").split(" ").filter(Boolean).map(Number);
const rows: Record<string, unknown>[] = [];
for (const name of readdirSync(`${dir}/pids`).sort()) {
  if (name.startsWith(".")) continue;
  const path = `${dir}/pids/${name}`;
  const owner = lstatSync(path).uid;
  const h = JSON.parse(readFileSync(path, "utf8"));
  let state = "exited";
  try {
    const f = statOf(h.pgid);
    state = owner !== uid || h.bootId !== bootId || Number(f[19]) !== h.leaderStart ? "stale" : f[0] === "Z" ? "exited" : "running";
    try {
      process.kill(-h.pgid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EPERM") state = "foreign";
    }
  } catch {}
  const row: Record<string, unknown> = { id: h.id, state, pgid: h.pgid, startedAt: new Date(h.startedAt).toISOString(), argv: h.argv };
  if (json && state === "running") {
    let cpu = 0;
    let rss = 0;
    const queue = [h.pgid];
    let pid: number | null = null;
    for (let i = 0; i < queue.length; i++) {
      try {
        const f = statOf(queue[i]);
        cpu += Number(f[11]) + Number(f[12]);
        rss += Number(f[21]);
        const kids = children(queue[i]);
        if (i === 0) pid = kids[0] ?? null;
        queue.push(...kids);
      } catch {}
    }
    Object.assign(row, { pid, processes: queue.length, cpuMs: cpu * 10, rssBytes: rss * 4096 });
  }
  rows.push(row);
}
let out: string;
if (json) out = `${JSON.stringify(rows, null, 2)}\n`;
else {
  out = "ID  STATE  PGID  STARTED  UPTIME  COMMAND\n";
  for (const r of rows) out += `${r.id}  ${r.state}  ${r.pgid}  ${String(r.startedAt).slice(0, 19).replace("T", " ")}  ${Math.round((now - Date.parse(String(r.startedAt))) / 1000)}s  ${(r.argv as string[]).join(" ")}\n`;
}
writeSync(1, out);
