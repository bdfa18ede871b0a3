import { defineCommand } from "citty";
import { parseDuration } from "../../base/duration.ts";
import { CorralError } from "../../base/errors.ts";
import { log, writeOut } from "../output.ts";
import { stopSupervisor } from "../../supervise/up.ts";
import { globalArgs, layoutFrom } from "./_shared.ts";

export default defineCommand({
  meta: { name: "down", description: "Stop a running corral up (from another shell) through its verified handle" },
  args: {
    timeout: { type: "string", description: "How long to wait for it to finish stopping its agents", default: "30s", valueHint: "DURATION" },
    ...globalArgs,
  },
  async run({ args }) {
    const timeoutMs = parseDuration(args.timeout ?? "30s", "timeout");
    const r = await stopSupervisor(layoutFrom(args), timeoutMs);
    if (r.result === "none") {
      log().info("no corral up is running here");
    } else if (r.result === "timeout") {
      throw new CorralError("E_TIMEOUT", `corral up (pid ${r.pid}) is still stopping after ${args.timeout}`, { hint: "run corral down again, or corral kill --all" });
    } else {
      writeOut(`stopped corral up (pid ${r.pid})\n`);
    }
  },
});
