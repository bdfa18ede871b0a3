import { defineCommand } from "citty";
import { basename } from "node:path";
import { loadConfig, findConfig } from "../../supervise/config.ts";
import { UsageError, KraalError, EXIT } from "../../base/errors.ts";
import { becomeSubreaper } from "../../sys/libc.ts";
import { useColor, writeOut } from "../output.ts";
import { prefixer } from "../../supervise/prefix.ts";
import { superviseAll } from "../../supervise/up.ts";
import { globalArgs, layoutFrom } from "./_shared.ts";

export default defineCommand({
  meta: { name: "up", description: "Start the agents of kraal.toml (or a Procfile) together and supervise them in the foreground" },
  args: {
    agents: { type: "positional", description: "Only these agents (default: all)", required: false, valueHint: "AGENT..." },
    file: { type: "string", alias: "f", description: "Config file (default: kraal.toml, else Procfile)", valueHint: "FILE" },
    timestamps: { type: "boolean", description: "Prefix each output line with the time" },
    ...globalArgs,
  },
  async run({ args }) {
    const path = findConfig(process.cwd(), args.file);
    let specs = loadConfig(path);
    const only = args._.map(String);
    if (only.length) {
      const unknown = only.filter((n) => !specs.some((s) => s.name === n));
      if (unknown.length) throw new UsageError(`no agent ${JSON.stringify(unknown[0])} in ${basename(path)}`, `agents there: ${specs.map((s) => s.name).join(", ")}`);
      specs = specs.filter((s) => only.includes(s.name));
    }
    if (!becomeSubreaper()) throw new KraalError("E_SUBREAPER", "cannot become a child subreaper (prctl failed)");
    const names = specs.map((s) => s.name);
    const line = prefixer(names, { width: Math.max(...names.map((n) => n.length)), color: useColor(1), timestamps: Boolean(args.timestamps) });
    const result = await superviseAll(layoutFrom(args), specs, path, { print: (name, text) => writeOut(line(name, text)) });
    process.exitCode = result.stoppedBy ? { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }[result.stoppedBy] : result.allSucceeded ? EXIT.ok : EXIT.failed;
  },
});
