import type { ArgDef, CommandDef } from "citty";
export { didYouMean } from "../base/suggest.ts";

/**
 * One synopsis per command, the single source of `kraal --help`, `kraal help CMD` and every
 * command's usage line. `-- CMD [ARGS...]` appears wherever a command takes one.
 * A test checks that every command of the root map has an entry here.
 */
export const SYNOPSIS: Record<string, { usage: string; summary: string }> = {
  spawn: { usage: "spawn ID [--cwd DIR] [--env K=V]... [--worktree [DIR]] -- CMD [ARGS...]", summary: "start CMD detached, in its own process group" },
  kill: { usage: "kill ID... | --all [--grace 300ms] [--signal TERM] [--force] [--rm-worktree]", summary: "TERM, grace, KILL, confirm; then retire the handle" },
  stop: { usage: "stop ID... | --all [--grace 300ms] [--signal TERM]", summary: "the same as kill; up's agents stay stopped until start" },
  start: { usage: "start ID...", summary: "start stopped or failed agents again (up's in place; spawned ones as spawned)" },
  restart: { usage: "restart ID... [--grace 300ms] [--signal TERM]", summary: "stop, then start again with the same argv, cwd and env" },
  ps: { usage: "ps [-a] [--json]", summary: "list agents (-a: with finished ones)" },
  status: { usage: "status ID [--json]", summary: "one agent; exits 0 running, 3 not running, 4 unknown" },
  wait: { usage: "wait ID [--timeout DURATION]", summary: "block until it ends; exit with its exit status" },
  logs: { usage: "logs [ID] [-f] [-n N] [-t] [--previous]", summary: "its stdout+stderr (no ID: every agent's, prefixed; -f: follow; -t: times)" },
  sweep: { usage: "sweep [--dry-run] [--json]", summary: "retire dead handles, quarantine corrupt ones" },
  run: { usage: "run [--name ID] [--timeout DURATION] [--no-tty] -- CMD [ARGS...]", summary: "run CMD attached; end what it leaves behind; exit with its status" },
  up: { usage: "up [-f FILE] [--timestamps] [--can-die NAME]... [--port N] [AGENT...]", summary: "start kraal.toml's (or a Procfile's) agents and supervise them" },
  down: { usage: "down [--timeout DURATION]", summary: "stop a running kraal up from another shell" },
  mcp: { usage: "mcp [--kill-on-exit]", summary: "an MCP server on stdio: tools to spawn, list, wait for and kill agents" },
  doctor: { usage: "doctor [--json]", summary: "which containment tier agents get here (cgroup or group), and why" },
  worktree: { usage: "worktree rm ID [--force] [--delete-branch] [--grace 300ms]", summary: "stop the agent, then remove its git worktree if nothing would be lost" },
};

export function rootHelp(version: string, names: string[]): string {
  const rows = names.filter((n) => !n.startsWith("_")).map((n) => [SYNOPSIS[n]?.usage ?? n, SYNOPSIS[n]?.summary ?? ""] as const);
  const width = Math.max(...rows.map(([u]) => u.length));
  return `kraal ${version}: supervise agents in owned process groups; killed by handle, never by guess.

Usage: kraal [--dir DIR] <command> [options]

Commands:
${rows.map(([u, s]) => `  ${u.padEnd(width)}   ${s}`).join("\n")}

Global: --dir DIR (or KRAAL_DIR), --verbose, --version, --help.
Run 'kraal help <command>' or 'kraal <command> --help' for a command's options.
`;
}

function flagLabel(name: string, d: ArgDef): string {
  const long = `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const alias = [("alias" in d ? d.alias : undefined) ?? []].flat().map((a) => `-${a}`);
  const value = d.type === "string" ? ` ${d.valueHint ?? "VALUE"}` : "";
  return [...alias, long].join(", ") + value;
}

/**
 * A command's help as plain text (no colour codes: it is read in pipes, logs and by agents):
 * the usage line from SYNOPSIS, the description, then arguments and options with defaults.
 */
export function commandHelp(name: string, cmd: CommandDef<any>): string {
  const meta = (cmd.meta ?? {}) as { description?: string };
  const defs = Object.entries((cmd.args ?? {}) as Record<string, ArgDef>);
  const positionals = defs.filter(([, d]) => d.type === "positional");
  const options = defs.filter(([, d]) => d.type !== "positional");
  const table = (rows: [string, string][]) => {
    const w = Math.max(...rows.map(([l]) => l.length));
    return rows.map(([l, t]) => `  ${l.padEnd(w)}   ${t}`).join("\n");
  };
  const parts = [`Usage: kraal ${SYNOPSIS[name]?.usage ?? name}`, "", meta.description ?? ""];
  if (positionals.length) parts.push("", "Arguments:", table(positionals.map(([n, d]) => [d.valueHint ?? n.toUpperCase(), d.description ?? ""])));
  const optionRows = options.map(([n, d]): [string, string] => [flagLabel(n, d), `${d.description ?? ""}${d.default !== undefined && d.default !== false ? ` (default: ${d.default})` : ""}`]);
  optionRows.push(["-h, --help", "Show this help"]);
  parts.push("", "Options:", table(optionRows));
  return `${parts.join("\n")}\n`;
}

