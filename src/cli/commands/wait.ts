import { defineCommand } from "../command.ts";
import { parseDuration } from "../../base/duration.ts";
import { KraalError, EXIT } from "../../base/errors.ts";
import { describeExit, toShellStatus } from "../../base/exit-status.ts";
import { encodeId } from "../../handle/id.ts";
import { log } from "../output.ts";
import { waitForEnd } from "../../lifecycle/waiter.ts";
import { checkedId, globalArgs, idArg, layoutFrom } from "./_shared.ts";

export default defineCommand({
  meta: { name: "wait", description: "Block until an agent ends; exit with its exit status (128+N for signal N, 124 on timeout)" },
  args: {
    ...idArg,
    timeout: { type: "string", description: "Give up after this long and exit 124", valueHint: "DURATION" },
    ...globalArgs,
  },
  async run({ args }) {
    const id = checkedId(args.id);
    const timeoutMs = args.timeout === undefined ? Infinity : parseDuration(args.timeout, "--timeout");
    const end = await waitForEnd(layoutFrom(args), id, encodeId(id), { timeoutMs });
    if (end === "timeout") {
      throw new KraalError("E_TIMEOUT", `${id} still running after ${args.timeout}`, { exitCode: EXIT.timeout });
    }
    const code = toShellStatus(end);
    if (code === null) {
      log().warn(`${id} ended, but its exit status is unknown (${describeExit(end)})`);
      process.exitCode = EXIT.failed;
    } else {
      process.exitCode = code;
    }
  },
});
