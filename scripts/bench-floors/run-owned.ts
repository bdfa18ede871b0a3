// The owned-run floor: the least a `run` that never lets its command run untracked (#2) and never
// lets it outlive a killed `run` (#3, #9: the parent-death guarantee) must add to the run floor,
// with none of kraal's checks or messages. It loads node:fs, takes the state lock (flock through
// bun:ffi), starts a setsid'd sh that waits on fd 3, reads the leader's start time, writes the
// handle (O_EXCL temp file + rename) and only then says "go". The sh starts a watcher (a subshell
// that kills the group when its pipe from this process reads EOF: this process died) and runs the
// command as its child, so it is there to end the watcher after it; then this process appends the
// run to the history (#2: exit statuses are kept) and removes the handle. Whatever kraal run costs
// beyond this is its own; what this costs beyond the run floor, any design that meets those
// requirements pays.
//   run-owned-floor STATE_DIR
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dlopen } from "bun:ffi";

const dir = process.argv[2]!;
mkdirSync(`${dir}/pids`, { recursive: true, mode: 0o700 });
const libc = dlopen("libc.so.6", { flock: { args: ["i32", "i32"], returns: "i32" } });
const lock = openSync(`${dir}/lock`, "a", 0o600);
libc.symbols.flock(lock, 2);
const wrapper = 'read go <&3; (while read -r _; do :; done; kill -KILL 0) <&4 & w=$!; exec 4<&-; "$@"; s=$?; kill -KILL $w; exit $s';
const p = Bun.spawn(["/bin/sh", "-c", wrapper, "sh", "sh", "-c", "true"], { detached: true, stdio: ["inherit", "inherit", "inherit", "pipe", "pipe"] });
const st = readFileSync(`/proc/${p.pid}/stat`, "latin1");
const start = st.slice(st.lastIndexOf(")") + 2).split(" ")[19];
const tmp = `${dir}/pids/.tmp.${process.pid}`;
const fd = openSync(tmp, "wx", 0o600);
writeSync(fd, `${JSON.stringify({ v: 1, pgid: p.pid, leaderStart: Number(start), argv: ["true"] })}\n`);
closeSync(fd);
renameSync(tmp, `${dir}/pids/run`);
libc.symbols.flock(lock, 8);
const go = p.stdio[3] as unknown as number;
writeSync(go, "go\n");
closeSync(go);
process.exitCode = await p.exited;
const history = openSync(`${dir}/history.jsonl`, "a", 0o600);
writeSync(history, `${JSON.stringify({ id: "run", argv: ["sh", "-c", "true"], exitCode: process.exitCode, endedAt: Date.now() })}\n`);
closeSync(history);
unlinkSync(`${dir}/pids/run`);
