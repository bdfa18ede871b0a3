import { defineCommand } from "../command.ts";
import { basename } from "node:path";
import { loadConfig, findConfig, withDependencies } from "../../supervise/config.ts";
import { UsageError, KraalError, EXIT } from "../../base/errors.ts";
import { becomeSubreaper } from "../../sys/libc.ts";
import { useColor, writeOut } from "../output.ts";
import { prefixer } from "../../supervise/prefix.ts";
import { superviseAll } from "../../supervise/up.ts";
import { toShellStatus } from "../../base/exit-status.ts";
import { globalArgs, layoutFrom, repeatedFlag } from "./_shared.ts";

export default defineCommand({
  meta: { name: "up", description: "Start the agents of kraal.toml (or a Procfile) together and supervise them in the foreground" },
  args: {
    agents: { type: "positional", description: "Only these agents (default: all)", required: false, valueHint: "AGENT..." },
    file: { type: "string", alias: "f", description: "Config file (default: kraal.toml, else Procfile)", valueHint: "FILE" },
    timestamps: { type: "boolean", description: "Prefix each output line with the time" },
    "can-die": { type: "string", description: "A Procfile entry whose exit does not stop the others (repeatable)", valueHint: "NAME" },
    port: { type: "string", description: "Procfile: the first entry's PORT; each next one gets 100 more (default: .env's PORT, else $PORT, else 5000)", valueHint: "N" },
    ...globalArgs,
  },
  async run({ args, rawArgs }) {
    const path = findConfig(process.cwd(), args.file);
    if (args.port !== undefined && !/^\d{1,5}$/.test(args.port)) throw new UsageError(`--port ${JSON.stringify(args.port)}: expected a port number`);
    let specs = loadConfig(path, { port: args.port === undefined ? undefined : Number(args.port) });
    for (const name of repeatedFlag(rawArgs, "can-die")) {
      const spec = specs.find((s) => s.name === name);
      if (!spec) throw new UsageError(`--can-die ${JSON.stringify(name)}: no such agent in ${basename(path)}`, `agents there: ${specs.map((s) => s.name).join(", ")}`);
      spec.stopsOthers = false;
    }
    const only = args._.map(String);
    if (only.length) {
      const unknown = only.filter((n) => !specs.some((s) => s.name === n));
      if (unknown.length) throw new UsageError(`no agent ${JSON.stringify(unknown[0])} in ${basename(path)}`, `agents there: ${specs.map((s) => s.name).join(", ")}`);
      specs = withDependencies(specs, only); // and what they depend on, as process-compose does
    }
    if (!becomeSubreaper()) throw new KraalError("E_SUBREAPER", "cannot become a child subreaper (prctl failed)");
    const names = specs.map((s) => s.name);
    const line = prefixer(names, { width: Math.max(...names.map((n) => n.length)), color: useColor(1), timestamps: Boolean(args.timestamps) });
    const result = await superviseAll(layoutFrom(args), specs, path, { print: (name, text) => writeOut(line(name, text)), notice: (text) => writeOut(`${text}\n`) });
    process.exitCode = result.stoppedBy
      ? { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }[result.stoppedBy]
      : result.endedBy
        ? (toShellStatus(result.endedBy.status) ?? EXIT.failed)
        : result.allSucceeded
          ? EXIT.ok
          : EXIT.failed;
  },
});
