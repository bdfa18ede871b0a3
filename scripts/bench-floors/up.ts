// The up floor: one Bun process that starts N sh wrappers (each in its own session, each running
// `sleep 1000` as a child, as kraal's wrapper runs its agent) and prints a line as each is
// started, then waits to be killed. The bench times it exactly as it times `kraal up`: from launch
// until N "started" lines are read.
//   up-floor N
import { writeSync } from "node:fs";

const n = Number(process.argv[2]);
for (let i = 0; i < n; i++) {
  const p = Bun.spawn(["/bin/sh", "-c", '"$@"; exit $?', "sh", "sleep", "1000"], { detached: true, stdio: ["ignore", "ignore", "ignore"] });
  writeSync(1, `started ${p.pid}\n`);
}
setInterval(() => {}, 1 << 30);
