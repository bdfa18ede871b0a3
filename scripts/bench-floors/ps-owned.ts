// The owned-ps floor (a second reference for ps, not a target's floor): the ps floor plus what the
// issues ask of every `ps`, each done the cheapest way, inline, with no messages or abstractions:
//   - the CLI's argument parser: citty, the project's chosen library, loaded when there are flags
//     to parse (as kraal does), and the check citty leaves out: an unknown flag is refused
//     (principle 3: bad input gets one clear line);
//   - #8: the state directory's trust check (a real directory of ours, not group/other-writable),
//     each handle file's owner (fstat of the opened file: no extra lookup), never opening what the
//     listing says is not a regular file;
//   - #8: whether stdout is a terminal (colour, and a width to fit), NO_COLOR and COLUMNS; the
//     history's size (over its cap it is compacted), from the fstat its tail read makes anyway;
//   - #2: every field of a handle checked (a corrupt record is reported, never trusted), its file
//     name the reversible encoding of its id, its host, user and boot this machine's, the leader's
//     start time and group, its name (a wrapper that recorded its agent's end renames itself, #8);
//   - #8: a signal probe of each group (EPERM: another user's group is shown foreign);
//   - #8: ids and commands shown escaped (no raw control bytes), arguments quoted as a shell would,
//     in columns measured to fit (a width to cut to on a terminal), with the tier (#9);
//   - #3, #10: the state `kraal up` reports for its agents (its record, read if there is one), and
//     the line saying how many agents finished in the last hour (the history's tail);
//   - --json (#10): each running agent's pid, CPU and RSS (its processes' children and stat).
// No sweep writes (nothing here is retirable), no colour, no cutting (the bench's stdout is a pipe).
//   ps-owned-floor STATE_DIR [--json]
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, writeSync } from "node:fs";

// STATE_DIR stands for kraal's $KRAAL_DIR; what follows it is the command line.
const dir = process.argv[2]!;
const argv = process.argv.slice(3);
for (const a of argv) {
  if (a.startsWith("-") && a !== "--json") {
    writeSync(2, `unknown option ${a}\n`);
    process.exit(2);
  }
}
const json = argv.length > 0 && Boolean((await import("citty")).parseArgs(argv, { json: { type: "boolean" } }).json);
let terminal = false;
try {
  terminal = /^\/dev\/(pts\/|tty)/.test(readlinkSync("/proc/self/fd/1"));
} catch {}
// Colour and cutting to a width are not done here (the bench's stdout is a pipe): say so if asked for.
if ((terminal && !process.env.NO_COLOR) || process.env.COLUMNS) writeSync(2, "ps-owned-floor: no colour or cutting here\n");
const uid = process.getuid!();
for (const d of [dir, `${dir}/pids`]) {
  const st = lstatSync(d);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) throw new Error(`${d} is not ours`);
}
const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim();
// The host name as gethostname(2) gives it, read from /proc (node:os would cost ~0.4 ms to load).
const host = readFileSync("/proc/sys/kernel/hostname", "utf8").replace(/\n$/, "");
const now = Date.now();
const READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const PLAIN_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const idOf = (name: string) => (PLAIN_ID.test(name) ? name : decodeURIComponent(name));
const isInt = (n: unknown, min: number) => Number.isSafeInteger(n) && (n as number) >= min;
const valid = (h: any) =>
  h !== null && typeof h === "object" && h.v === 1 && typeof h.id === "string" && h.id !== "" && isInt(h.pgid, 2) && h.pgid <= 4_194_304 &&
  isInt(h.leaderStart, 0) && typeof h.bootId === "string" && typeof h.host === "string" && isInt(h.uid, 0) && Array.isArray(h.argv) &&
  h.argv.length > 0 && h.argv.every((a: unknown) => typeof a === "string") && typeof h.cwd === "string" && isInt(h.startedAt, 0) && typeof h.mode === "string" &&
  (h.endedComm === undefined || typeof h.endedComm === "string");
const PRINTABLE = /^[\x20-\x7e]*$/;
const shown = (s: string) => (PRINTABLE.test(s) ? s : JSON.stringify(s).slice(1, -1));
const SHELL_SAFE = /^[A-Za-z0-9_./:=@%+,-]+$/;
const command = (argv: string[]) => shown(argv.map((a) => (SHELL_SAFE.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" "));
const statOf = (pid: number) => {
  const st = readFileSync(`/proc/${pid}/stat`, "latin1");
  return st.slice(st.lastIndexOf(")") + 2).split(" ");
};
const children = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").split(" ").filter(Boolean).map(Number);

const files = new Set<string>();
const names: string[] = [];
for (const d of readdirSync(`${dir}/pids`, { withFileTypes: true })) {
  names.push(d.name);
  if (d.isFile()) files.add(d.name);
}
const rows: Record<string, unknown>[] = [];
for (const name of names.sort()) {
  if (name.startsWith(".")) continue;
  let h: any = null;
  let owner = -1;
  if (files.has(name)) {
    const fd = openSync(`${dir}/pids/${name}`, READ);
    try {
      const st = fstatSync(fd);
      owner = st.uid;
      if (st.isFile()) h = JSON.parse(readFileSync(fd, "utf8"));
    } catch {
      h = null;
    } finally {
      closeSync(fd);
    }
  }
  if (!valid(h) || idOf(name) !== h.id) {
    rows.push({ id: idOf(name), state: "corrupt", pgid: null, argv: [] });
    continue;
  }
  let state = "exited";
  if (owner !== uid || h.uid !== uid || h.host !== host) state = "foreign";
  else if (h.bootId !== bootId) state = "stale";
  else {
    try {
      const text = readFileSync(`/proc/${h.pgid}/stat`, "latin1");
      const close = text.lastIndexOf(")");
      const f = text.slice(close + 2).split(" ");
      state = Number(f[19]) !== h.leaderStart || Number(f[2]) !== h.pgid ? "stale" : f[0] === "Z" ? "exited" : "running";
      // A wrapper that has recorded its agent's end renames itself: then the exit record is read.
      if (state === "running" && text.slice(text.indexOf("(") + 1, close) === h.endedComm) state = "exited";
      try {
        process.kill(-h.pgid, 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EPERM") state = "foreign";
      }
    } catch {}
  }
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
// The states `kraal up` reports for its agents (between runs they have no handle).
try {
  const up = JSON.parse(readFileSync(`${dir}/supervisor`, "utf8"));
  for (const r of rows) if (up.agents?.[r.id as string]?.state === "starting") r.state = "starting";
} catch {}
let out: string;
if (json) out = `${JSON.stringify(rows, null, 2)}\n`;
else {
  const cells = [["ID", "STATE", "PGID", "TIER", "STARTED", "UPTIME", "COMMAND"]];
  for (const r of rows) {
    const started = r.startedAt ? String(r.startedAt) : "";
    cells.push([shown(String(r.id)), String(r.state), String(r.pgid ?? "-"), r.pgid ? "group" : "-", started ? started.slice(0, 19).replace("T", " ") : "-", started ? `${Math.round((now - Date.parse(started)) / 1000)}s` : "-", command(r.argv as string[])]);
  }
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  out = "";
  for (const c of cells) out += `${c.map((v, i) => (i < c.length - 1 ? v.padEnd(widths[i]!) : v)).join("  ")}\n`;
  // Agents that finished in the last hour: the history read backwards, 64 KiB at a time, until a
  // read begins with an older run (lines cut between reads joined up).
  try {
    const fd = openSync(`${dir}/history.jsonl`, READ);
    let end = fstatSync(fd).size;
    // Over its cap, kraal compacts the history under the lock (not measured: the bench's is small).
    if (end > 8 << 20) writeSync(2, "ps-owned-floor: history over its cap\n");
    let recent = 0;
    let carried = "";
    for (;;) {
      const from = Math.max(0, end - 65536);
      const buf = Buffer.alloc(end - from);
      let text = buf.subarray(0, readSync(fd, buf, 0, buf.length, from)).toString("utf8") + carried;
      const nl = from > 0 ? text.indexOf("\n") : -1;
      carried = from > 0 ? (nl < 0 ? text : text.slice(0, nl)) : "";
      if (from > 0) text = nl < 0 ? "" : text.slice(nl + 1);
      let first: boolean | undefined;
      for (const m of text.matchAll(/"endedAt":(\d+)/g)) {
        const inWindow = Number(m[1]) >= now - 3_600_000;
        first ??= inWindow;
        if (inWindow) recent++;
      }
      if (from === 0 || first === false) break;
      end = from;
    }
    closeSync(fd);
    if (recent) out += `(${recent} finished in the last hour)\n`;
  } catch {}
}
writeSync(1, out);
