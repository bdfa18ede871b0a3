// The ps floor: the least any design that proves ownership must do to list N agents. It lists
// pids/, reads the boot id, and for each handle reads and parses the record and the leader's
// /proc/<pid>/stat (the start time after the last `)`, compared with the recorded one), then
// prints one table line per agent (or, with --json, one JSON document). No validation beyond
// that, no locking, no sweep, no history: whatever kraal does on top is its own cost.
//   ps-floor STATE_DIR [--json]
import { readdirSync, readFileSync, writeSync } from "node:fs";

const dir = process.argv[2]!;
const json = process.argv[3] === "--json";
const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim();
const now = Date.now();
const rows: { id: string; state: string; pgid: number; startedAt: string; argv: string[] }[] = [];
for (const name of readdirSync(`${dir}/pids`).sort()) {
  if (name.startsWith(".")) continue;
  const h = JSON.parse(readFileSync(`${dir}/pids/${name}`, "utf8"));
  let state = "exited";
  try {
    const st = readFileSync(`/proc/${h.pgid}/stat`, "latin1");
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    state = h.bootId !== bootId || Number(f[19]) !== h.leaderStart ? "stale" : f[0] === "Z" ? "exited" : "running";
  } catch {}
  rows.push({ id: h.id, state, pgid: h.pgid, startedAt: new Date(h.startedAt).toISOString(), argv: h.argv });
}
let out: string;
if (json) out = `${JSON.stringify(rows, null, 2)}\n`;
else {
  out = "ID  STATE  PGID  STARTED  UPTIME  COMMAND\n";
  for (const r of rows) out += `${r.id}  ${r.state}  ${r.pgid}  ${r.startedAt.slice(0, 19).replace("T", " ")}  ${Math.round((now - Date.parse(r.startedAt)) / 1000)}s  ${r.argv.join(" ")}\n`;
}
writeSync(1, out);
