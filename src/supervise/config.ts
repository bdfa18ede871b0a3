import { existsSync, readFileSync } from "node:fs";
import { parseSize } from "../base/size.ts";
import { DEFAULT_LOG_MAX, MIN_LOG_MAX } from "../lifecycle/log-files.ts";
import { didYouMean } from "../base/suggest.ts";
import { basename, dirname, resolve } from "node:path";
import { MAX_DURATION_MS, parseDuration } from "../base/duration.ts";
import { KraalError } from "../base/errors.ts";
import { parseStopSignal, type StopSignalName } from "../base/exit-status.ts";
import { validateId } from "../handle/id.ts";
import { DEFAULT_BACKOFF, type RestartPolicy, type RestartWhen } from "./restart.ts";
import { DEFAULT_GRACE_MS } from "../lifecycle/terminate.ts";
import { readEnvFile } from "./env-file.ts";
import { DEFAULT_READY_TIMEOUT_MS, type ReadySpec } from "./ready.ts";

/** One agent of a kraal.toml or Procfile, fully resolved. */
export interface AgentSpec {
  name: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  policy: RestartPolicy;
  graceMs: number;
  /** log_max: the log's bound in bytes across its generations (0: unbounded). */
  logMax?: number;
  /** Sent first when `up` stops it (then the grace, then SIGKILL). */
  stopSignal: StopSignalName;
  /**
   * When it exits, `up` stops every other agent and exits with its status: the foreman/overmind
   * convention for Procfile entries (unless named with `--can-die`); never for kraal.toml agents,
   * which have restart policies instead.
   */
  stopsOthers: boolean;
  /** Agents that must be ready before this one starts. */
  dependsOn: string[];
  /** When this agent counts as ready for those that depend on it (absent: as soon as it started). */
  ready?: ReadySpec;
  /** `worktree = true` (or a directory): run in a git worktree of its own, made on first start and kept. */
  worktree?: { dir?: string };
}

const AGENT_KEYS = ["cmd", "cwd", "env", "env_file", "restart", "max_restarts", "backoff", "grace", "stop_signal", "depends_on", "ready", "worktree", "log_max"] as const;
const DEFAULT_KEYS = AGENT_KEYS.filter((k) => k !== "cmd" && k !== "depends_on" && k !== "ready");
const RESTART_VALUES: RestartWhen[] = ["no", "on-failure", "always"];
const DEFAULT_MAX_RESTARTS = 5;

/** A configuration error, naming the file and, where it can be found, the line (and column). Exit 2. */
export class ConfigError extends KraalError {
  constructor(file: string, where: string, message: string, line?: number, column?: number) {
    super("E_CONFIG", `${basename(file)}${line ? `:${line}` : ""}${line && column ? `:${column}` : ""}: ${where ? `${where}: ` : ""}${message}`, { exitCode: 2, facts: { file, line, column } });
    this.name = "ConfigError";
  }
}

/** The config file `up` reads: `-f FILE`, else kraal.toml, else Procfile, in `cwd`. */
export function findConfig(cwd: string, file?: string): string {
  if (file) {
    const p = resolve(cwd, file);
    if (!existsSync(p)) throw new KraalError("E_CONFIG", `no such file: ${file}`, { exitCode: 2 });
    return p;
  }
  for (const name of ["kraal.toml", "Procfile"]) {
    const p = resolve(cwd, name);
    if (existsSync(p)) return p;
  }
  throw new KraalError("E_CONFIG", `no kraal.toml or Procfile in ${cwd}`, { exitCode: 2, hint: "give one with: kraal up -f FILE" });
}

export function loadConfig(path: string, opts: { env?: Record<string, string | undefined>; port?: number } = {}): AgentSpec[] {
  const text = readFileSync(path, "utf8");
  if (/\.toml$/i.test(path)) return parseToml(text, path);
  // foreman: a .env beside the Procfile; PORT's base from --port, else .env, else the environment.
  const dotenv = readEnvFile(resolve(dirname(path), ".env")) ?? {};
  const base = opts.port ?? portOf(dotenv.PORT) ?? portOf((opts.env ?? process.env).PORT) ?? DEFAULT_BASE_PORT;
  return parseProcfile(text, path, { env: dotenv, basePort: base });
}

/** foreman's ports: the first Procfile entry gets PORT=5000, the next 5100, and so on. */
export const DEFAULT_BASE_PORT = 5000;
export const PORT_STEP = 100;

function portOf(v: string | undefined): number | undefined {
  return v !== undefined && /^\d{1,5}$/.test(v) ? Number(v) : undefined;
}

/**
 * Where Bun's TOML parser failed (its errors carry no position): the first line at which the
 * text cut after it fails with the same message, then the first column on that line at which it
 * does. Both 1-based; undefined when the failure cannot be pinned down that way.
 */
export function tomlErrorPosition(text: string, message: string): { line: number; column?: number } | undefined {
  const failsSame = (prefix: string) => {
    try {
      Bun.TOML.parse(prefix);
      return false;
    } catch (e) {
      return (e as Error).message === message;
    }
  };
  const lines = text.split("\n");
  for (let n = 1; n <= lines.length; n++) {
    const before = lines.slice(0, n - 1).join("\n") + (n > 1 ? "\n" : "");
    if (!failsSame(before + lines[n - 1]!)) continue;
    const line = lines[n - 1]!;
    for (let col = 1; col <= line.length; col++) if (failsSame(before + line.slice(0, col))) return { line: n, column: col };
    return { line: n };
  }
  return undefined;
}

/** Line (1-based) of the n-th line matching `re`, if any. */
function lineOf(text: string, re: RegExp, nth = 1): number | undefined {
  let seen = 0;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) if (re.test(lines[i]!) && ++seen === nth) return i + 1;
  return undefined;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Line of `key = ` inside table `[table]` (first match after its header). */
function keyLine(text: string, table: string, key: string): number | undefined {
  const lines = text.split("\n");
  const header = new RegExp(`^\\s*\\[\\s*${table.split(".").map(escapeRe).join("\\s*\\.\\s*")}\\s*\\]`);
  let inTable = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^\s*\[/.test(l)) inTable = header.test(l);
    else if (inTable && new RegExp(`^\\s*"?${escapeRe(key)}"?\\s*=`).test(l)) return i + 1;
  }
  return lineOf(text, header);
}

/** Parses kraal.toml with Bun's TOML parser, then checks every key and type. */
export function parseToml(text: string, path: string): AgentSpec[] {
  let doc: Record<string, unknown>;
  try {
    doc = Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (e) {
    const msg = (e as Error).message.replace(/^TOML Parse error: /, "");
    const dup = /Cannot redefine (?:table|key) '([^']+)'/.exec(msg);
    if (dup) {
      const line = lineOf(text, new RegExp(`^\\s*\\[[^\\]]*\\b${escapeRe(dup[1]!)}\\s*\\]`), 2) ?? lineOf(text, new RegExp(`^\\s*"?${escapeRe(dup[1]!)}"?\\s*=`), 2);
      throw new ConfigError(path, "", `duplicate name ${JSON.stringify(dup[1])}`, line);
    }
    const at = tomlErrorPosition(text, (e as Error).message);
    throw new ConfigError(path, "", `invalid TOML: ${msg}`, at?.line, at?.column);
  }
  for (const k of Object.keys(doc)) {
    if (k !== "agents" && k !== "defaults") throw new ConfigError(path, k, `unknown table${meant(k, ["agents", "defaults"])} (expected [defaults] and [agents.NAME])`, lineOf(text, new RegExp(`^\\s*\\[?\\s*${escapeRe(k)}\\b`)));
  }
  const table = (v: unknown, where: string) => {
    if (v === undefined) return {};
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConfigError(path, where, "expected a table");
    return v as Record<string, unknown>;
  };
  const defaults = table(doc.defaults, "defaults");
  const agents = table(doc.agents, "agents");
  const base = dirname(path);
  checkKeys(defaults, DEFAULT_KEYS, "defaults", path, text);
  const names = Object.keys(agents);
  if (names.length === 0) throw new ConfigError(path, "", "no agents defined (add an [agents.NAME] table with a cmd)");
  const specs: AgentSpec[] = names.map((name) => {
    const where = `agents.${name}`;
    const a = table(agents[name], where);
    checkKeys(a, AGENT_KEYS, where, path, text);
    try {
      validateId(name);
    } catch (e) {
      throw new ConfigError(path, where, `invalid agent name: ${(e as Error).message}`, keyLine(text, where, "cmd"));
    }
    /** Reads `key` with `read`, reporting a failure at the table and line it came from. */
    const at = <T>(tableName: string, t: Record<string, unknown>, key: string, read: (v: unknown) => T): T => {
      try {
        return read(t[key]);
      } catch (e) {
        throw new ConfigError(path, `${tableName}.${key}`, (e as Error).message, keyLine(text, tableName, key));
      }
    };
    /** The agent's own value, else the [defaults] one, else `fallback`. */
    const get = <T>(key: string, read: (v: unknown) => T, fallback: T): T =>
      a[key] !== undefined ? at(where, a, key, read) : defaults[key] !== undefined ? at("defaults", defaults, key, read) : fallback;
    if (a.cmd === undefined) throw new ConfigError(path, where, "missing cmd", lineOf(text, new RegExp(`^\\s*\\[\\s*agents\\s*\\.\\s*"?${escapeRe(name)}"?\\s*\\]`)));
    const argv = get("cmd", readCmd, [] as string[]);
    const cwd = get("cwd", (v) => resolve(base, str(v)), base);
    const envFiles = (t: Record<string, unknown>, tableName: string) => (t.env_file !== undefined ? at(tableName, t, "env_file", (v) => readEnvFiles(v, base)) : {});
    // Precedence, lowest first: env files ([defaults], then the agent's), then env tables (likewise).
    const env = {
      ...envFiles(defaults, "defaults"),
      ...envFiles(a, where),
      ...(defaults.env !== undefined ? at("defaults", defaults, "env", readEnv) : {}),
      ...(a.env !== undefined ? at(where, a, "env", readEnv) : {}),
    };
    const policy: RestartPolicy = {
      restart: get("restart", (v) => {
        if (!RESTART_VALUES.includes(v as RestartWhen)) throw new Error(`expected one of ${RESTART_VALUES.join(", ")}, got ${JSON.stringify(v)}`);
        return v as RestartWhen;
      }, "no"),
      maxRestarts: get("max_restarts", (v) => {
        if (!Number.isSafeInteger(v) || (v as number) < 0) throw new Error(`expected a whole number >= 0, got ${JSON.stringify(v)}`);
        return v as number;
      }, DEFAULT_MAX_RESTARTS),
      backoff: get("backoff", readBackoff, DEFAULT_BACKOFF),
    };
    const graceMs = get("grace", (v) => parseDuration(str(v)), DEFAULT_GRACE_MS);
    const stopSignal = get("stop_signal", (v) => {
      const s = parseStopSignal(str(v));
      if (!s) throw new Error(`expected one of TERM, INT, HUP, QUIT, USR1, USR2, got ${JSON.stringify(v)}`);
      return s;
    }, "SIGTERM" as StopSignalName);
    const dependsOn = a.depends_on === undefined ? [] : at(where, a, "depends_on", (v) => readNames(v, names, name));
    const ready = a.ready === undefined ? undefined : at(where, a, "ready", readReady);
    const worktree = get("worktree", (v): { dir?: string } | undefined => {
      if (typeof v === "boolean") return v ? {} : undefined;
      if (typeof v === "string" && v !== "" && a.worktree !== undefined) return { dir: resolve(base, v) };
      throw new Error(`expected true, false or (for one agent) a directory, got ${JSON.stringify(v)}`);
    }, undefined);
    const logMax = get("log_max", (v) => {
      const n = typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : parseSize(str(v));
      if (n > 0 && n < MIN_LOG_MAX) throw new Error(`at least ${MIN_LOG_MAX / 1024}K (or 0 / "off" for no limit), got ${JSON.stringify(v)}`);
      return n;
    }, DEFAULT_LOG_MAX);
    return { name, argv, cwd, env, policy, graceMs, stopSignal, stopsOthers: false, dependsOn, ready, logMax, ...(worktree ? { worktree } : {}) };
  });
  const cycle = findCycle(specs);
  if (cycle) throw new ConfigError(path, `agents.${cycle[0]}.depends_on`, `dependency cycle: ${cycle.join(" -> ")}`, keyLine(text, `agents.${cycle[0]}`, "depends_on"));
  return specs;
}

/** `; did you mean KEY?` when a misspelt key is close to one of the allowed ones, else nothing. */
function meant(k: string, allowed: readonly string[]): string {
  const guess = didYouMean(k, [...allowed]);
  return guess ? `; did you mean ${guess}?` : "";
}

function checkKeys(t: Record<string, unknown>, allowed: readonly string[], where: string, path: string, text: string): void {
  for (const k of Object.keys(t)) {
    if (!allowed.includes(k)) throw new ConfigError(path, `${where}.${k}`, `unknown key${meant(k, allowed)} (expected one of: ${allowed.join(", ")})`, keyLine(text, where, k));
  }
}

function str(v: unknown): string {
  if (typeof v !== "string") throw new Error(`expected a string, got ${JSON.stringify(v)}`);
  return v;
}

/** A string runs through `sh -c`; an array is argv as it is. */
function readCmd(v: unknown): string[] {
  if (typeof v === "string") {
    if (!v.trim()) throw new Error("is empty");
    return ["sh", "-c", v];
  }
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string")) return v as string[];
  throw new Error("expected a string (run by sh -c) or a non-empty array of strings (argv)");
}

/** `depends_on = ["db", "cache"]`: names of other agents of the same file. */
function readNames(v: unknown, known: string[], self: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error('expected a list of agent names (depends_on = ["db"])');
  for (const n of v as string[]) {
    if (n === self) throw new Error("an agent cannot depend on itself");
    if (!known.includes(n)) throw new Error(`no agent ${JSON.stringify(n)} in this file`);
  }
  return [...new Set(v as string[])];
}

/**
 * `ready = "pg_isready"` (a shell command), or a table with exactly one of `cmd`, `port` (a TCP
 * port on 127.0.0.1, or `host`), `log` (a text a line of output contains), and optionally `timeout`.
 */
function readReady(v: unknown): ReadySpec {
  if (typeof v === "string") return { check: { cmd: v }, timeoutMs: DEFAULT_READY_TIMEOUT_MS };
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error('expected a command or { cmd = "...", port = 5432, log = "text", timeout = "60s" }');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!["cmd", "port", "host", "log", "timeout"].includes(k)) throw new Error(`unknown key ${k}${meant(k, ["cmd", "port", "host", "log", "timeout"])} (expected cmd, port, host, log, timeout)`);
  const kinds = ["cmd", "port", "log"].filter((k) => o[k] !== undefined);
  if (kinds.length !== 1) throw new Error("give exactly one of cmd, port, log");
  const timeoutMs = o.timeout === undefined ? DEFAULT_READY_TIMEOUT_MS : parseDuration(str(o.timeout), "timeout");
  if (o.port !== undefined) {
    if (!Number.isSafeInteger(o.port) || (o.port as number) < 1 || (o.port as number) > 65535) throw new Error(`port: expected 1-65535, got ${JSON.stringify(o.port)}`);
    return { check: { port: o.port as number, host: o.host === undefined ? "127.0.0.1" : str(o.host) }, timeoutMs };
  }
  if (o.host !== undefined) throw new Error("host goes with port");
  return { check: o.cmd !== undefined ? { cmd: str(o.cmd) } : { log: str(o.log) }, timeoutMs };
}

/** A dependency cycle as a path of names (first = last), or null. */
export function findCycle(specs: Pick<AgentSpec, "name" | "dependsOn">[]): string[] | null {
  const deps = new Map(specs.map((s) => [s.name, s.dependsOn]));
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === "done") return null;
    if (state.get(n) === "visiting") return [...path.slice(path.indexOf(n)), n];
    state.set(n, "visiting");
    path.push(n);
    for (const d of deps.get(n) ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(n, "done");
    return null;
  };
  for (const s of specs) {
    const c = visit(s.name);
    if (c) return c;
  }
  return null;
}

/** `names` plus every agent they depend on, directly or not, in file order. */
export function withDependencies(specs: AgentSpec[], names: string[]): AgentSpec[] {
  const want = new Set<string>();
  const add = (n: string) => {
    if (want.has(n)) return;
    want.add(n);
    for (const d of specs.find((s) => s.name === n)?.dependsOn ?? []) add(d);
  };
  names.forEach(add);
  return specs.filter((s) => want.has(s.name));
}

/** `env_file = ".env"` or a list of them, relative to the config file; later files win. Each must exist. */
function readEnvFiles(v: unknown, base: string): Record<string, string> {
  const list = typeof v === "string" ? [v] : Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : null;
  if (!list) throw new Error('expected a path or a list of paths (env_file = ".env")');
  const env: Record<string, string> = {};
  for (const f of list) {
    const vars = readEnvFile(resolve(base, f));
    if (!vars) throw new Error(`no such file: ${f}`);
    Object.assign(env, vars);
  }
  return env;
}

function readEnv(v: unknown): Record<string, string> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("expected a table of NAME = \"value\"");
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string" && typeof x !== "number" && typeof x !== "boolean") throw new Error(`${k}: expected a string`);
    out[k] = String(x);
  }
  return out;
}

/** `backoff = "1s"` (the first delay) or `backoff = { initial = "1s", max = "30s" }`. */
function readBackoff(v: unknown): RestartPolicy["backoff"] {
  if (typeof v === "string") return { initialMs: parseDuration(v), maxMs: Math.max(parseDuration(v), DEFAULT_BACKOFF.maxMs) };
  if (typeof v === "object" && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== "initial" && k !== "max") throw new Error(`unknown key ${k}${meant(k, ["initial", "max"])} (expected initial, max)`);
    const initialMs = o.initial === undefined ? DEFAULT_BACKOFF.initialMs : parseDuration(str(o.initial), "initial");
    const maxMs = o.max === undefined ? Math.max(initialMs, DEFAULT_BACKOFF.maxMs) : parseDuration(str(o.max), "max");
    if (maxMs < initialMs) throw new Error("max is shorter than initial");
    return { initialMs, maxMs: Math.min(maxMs, MAX_DURATION_MS) };
  }
  throw new Error('expected a duration ("1s") or { initial = "1s", max = "30s" }');
}

/**
 * Parses a Procfile: `name: command` lines (the foreman/overmind convention), `#` comments and
 * blank lines ignored. Commands run through `sh -c`; restart policy "no"; each entry stops the
 * others when it exits. Each gets `env` (a .env's variables) and PORT = basePort + 100 × its index.
 */
export function parseProcfile(text: string, path: string, opts: { env?: Record<string, string>; basePort?: number } = {}): AgentSpec[] {
  const seen = new Map<string, number>();
  const out: AgentSpec[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (/^\s*(#|$)/.test(line)) return;
    const m = /^([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*:\s*(.*)$/.exec(line);
    if (!m) throw new ConfigError(path, "", "expected 'name: command'", i + 1);
    const [, name, cmd] = m as unknown as [string, string, string];
    if (!cmd.trim()) throw new ConfigError(path, name, "empty command", i + 1);
    if (seen.has(name)) throw new ConfigError(path, name, `duplicate name (first on line ${seen.get(name)})`, i + 1);
    seen.set(name, i + 1);
    const env = { ...opts.env, PORT: String((opts.basePort ?? DEFAULT_BASE_PORT) + PORT_STEP * out.length) };
    out.push({ name, argv: ["sh", "-c", cmd], cwd: dirname(path), env, policy: { restart: "no", maxRestarts: DEFAULT_MAX_RESTARTS, backoff: DEFAULT_BACKOFF }, graceMs: DEFAULT_GRACE_MS, stopSignal: "SIGTERM", stopsOthers: true, dependsOn: [] });
  });
  if (out.length === 0) throw new ConfigError(path, "", "no processes defined");
  return out;
}
