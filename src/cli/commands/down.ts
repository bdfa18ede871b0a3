import { defineCommand } from "../command.ts";
import { parseDuration } from "../../base/duration.ts";
import { KraalError } from "../../base/errors.ts";
import { log, writeOut } from "../output.ts";
import { stopSupervisor } from "../../supervise/up.ts";
import { globalArgs, layoutFrom } from "./_shared.ts";

export default defineCommand({
  meta: { name: "down", description: "Stop a running kraal up (from another shell) through its verified handle" },
  args: {
    timeout: { type: "string", description: "How long to wait for it to finish stopping its agents", default: "30s", valueHint: "DURATION" },
    ...globalArgs,
  },
  async run({ args }) {
    const timeoutMs = parseDuration(args.timeout ?? "30s", "--timeout");
    const r = await stopSupervisor(layoutFrom(args), timeoutMs);
    if (r.result === "none") {
      log().info("no kraal up is running here");
    } else if (r.result === "timeout") {
      throw new KraalError("E_TIMEOUT", `kraal up (pid ${r.pid}) is still stopping after ${args.timeout}`, { hint: "run kraal down again, or kraal kill --all" });
    } else {
      writeOut(`stopped kraal up (pid ${r.pid})\n`);
    }
  },
});
