// Layer base/: the vocabulary every layer shares (typed errors with exit codes, exit statuses,
// durations). Pure values; imports nothing of kraal's.
/**
 * The exit statuses kraal itself uses, one place for all of them (documented in README.md).
 * LSB-style 3/4 for `status`, 124 for timeouts like timeout(1).
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  notRunning: 3,
  unknown: 4,
  timeout: 124,
} as const;

/**
 * Every failure kraal reports to a user. `message` says what happened, `hint` the exact
 * command that fixes it; the CLI prints them as one or two lines and exits with `exitCode`.
 * Core code throws these and never prints or exits.
 */
export class KraalError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly hint?: string;
  readonly facts: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    opts: { exitCode?: number; hint?: string; facts?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = "KraalError";
    this.code = code;
    this.exitCode = opts.exitCode ?? EXIT.failed;
    this.hint = opts.hint;
    this.facts = opts.facts ?? {};
  }
}

/** Bad command-line input: exit status 2. */
export class UsageError extends KraalError {
  constructor(message: string, hint?: string) {
    super("E_USAGE", message, { exitCode: EXIT.usage, hint });
    this.name = "UsageError";
  }
}

/** The agent id names nothing kraal has heard of (no handle, no history). */
export class UnknownAgentError extends KraalError {
  constructor(id: string, exitCode: number = EXIT.failed) {
    super("E_UNKNOWN_AGENT", `no agent named ${JSON.stringify(id)}`, {
      exitCode,
      hint: "list agents with: kraal ps -a",
      facts: { id },
    });
    this.name = "UnknownAgentError";
  }
}
