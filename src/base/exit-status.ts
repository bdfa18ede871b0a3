/** How a process ended: an exit code, or the signal that killed it. Kept together everywhere. */
export interface ExitStatus {
  exitCode: number | null;
  signal: string | null;
}

/**
 * The platform's signal numbers by name, from node:os on first use: loading node:os costs about
 * 0.4 ms, which a command that never names a signal (`ps` of running agents) should not pay.
 */
let signals: Record<string, number> | undefined;
let names: Map<number, string> | undefined;
const signalTable = () => (signals ??= (require("node:os") as typeof import("node:os")).constants.signals as Record<string, number>);

export function signalName(n: number): string | null {
  names ??= new Map(Object.entries(signalTable()).map(([name, k]) => [k, name]));
  return names.get(n) ?? null;
}

export function signalNumber(name: string): number | null {
  return signalTable()[name] ?? null;
}

/**
 * Reads a shell's `$?`: above 128 means "killed by signal status-128" when that is a real
 * signal (sh cannot tell `exit 130` from death by SIGINT; kraal reads it as the signal).
 */
export function fromShellStatus(status: number): ExitStatus {
  if (status > 128) {
    const name = signalName(status - 128);
    if (name) return { exitCode: null, signal: name };
  }
  return { exitCode: status, signal: null };
}

/** The shell-style status a caller should exit with: the code, or 128+signal. */
export function toShellStatus(s: ExitStatus): number | null {
  if (s.exitCode !== null) return s.exitCode;
  if (s.signal !== null) return 128 + (signalNumber(s.signal) ?? 0);
  return null;
}

export function describeExit(s: ExitStatus): string {
  if (s.signal) return s.signal;
  if (s.exitCode !== null) return `exit ${s.exitCode}`;
  return "unknown";
}

/**
 * Signals an agent may be asked to stop with before the grace and SIGKILL: TERM (the default),
 * INT (many agent CLIs exit cleanly only on Ctrl-C), HUP, QUIT, USR1, USR2. The wrapper traps
 * each of them, so a stop signal never ends the wrapper before its agent.
 */
export const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;
export type StopSignalName = (typeof STOP_SIGNALS)[number];

/** Reads `INT`, `SIGINT` or `int`; null for anything not in STOP_SIGNALS. */
export function parseStopSignal(text: string): StopSignalName | null {
  const name = `SIG${text.trim().toUpperCase().replace(/^SIG/, "")}`;
  return (STOP_SIGNALS as readonly string[]).includes(name) ? (name as StopSignalName) : null;
}
