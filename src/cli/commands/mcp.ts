import { defineCommand } from "../command.ts";
import { globalArgs, layoutFrom } from "./_shared.ts";

export default defineCommand({
  meta: { name: "mcp", description: "Serve kraal's tools to an MCP client (Claude Code, Codex, Cursor, the MCP Inspector) on stdio: spawn, list, status, logs, wait, kill and restart agents" },
  args: {
    killOnExit: { type: "boolean", description: "When the client disconnects, stop the agents this server started (by default they keep running)" },
    ...globalArgs,
  },
  async run({ args }) {
    // The SDK is loaded here and only here: no other command starts slower for it.
    const { serveMcp } = await import("../mcp/server.ts");
    await serveMcp({ layout: layoutFrom(args), killOnExit: Boolean(args.killOnExit) });
    // The client is gone: timers of cancelled waits and the SDK's stdin listener must not keep the process alive.
    process.exit(0);
  },
});
