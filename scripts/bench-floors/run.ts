// The run floor: a compiled Bun program that starts `sh -c true` and waits for it, passing on its
export {};
// status. Any `run` that supervises a command pays at least this.
const p = Bun.spawn(["sh", "-c", "true"], { stdio: ["inherit", "inherit", "inherit"] });
process.exitCode = await p.exited;
