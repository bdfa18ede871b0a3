import { writeSync } from "node:fs";

/** How long, after the agent ended, to let the last of its screen output arrive before closing the pty. */
const DRAIN_MS = 250;

/** What the spawner passes to Bun.spawn's `terminal` option. */
export interface TerminalSpec {
  cols: number;
  rows: number;
  name: string;
  data(terminal: Bun.Terminal, bytes: Uint8Array): void;
  exit(): void;
}

/**
 * Gives an attached agent a real terminal: a pty whose slave is the wrapper's controlling terminal
 * (the wrapper stays session and group leader, so ownership is unchanged), relayed to and from
 * kraal's own terminal, which is put in raw mode so that Ctrl-C, Ctrl-Z and every key reach the
 * agent exactly as a shell would deliver them, through the pty's line discipline.
 * Window size changes follow (SIGWINCH). `restore()` puts kraal's terminal back as it was; it
 * runs on every way out that lets it run (a SIGKILLed kraal cannot: `reset` mends that).
 */
export class TerminalRelay {
  readonly spec: TerminalSpec;
  private terminal: Bun.Terminal | null = null;
  private closed!: () => void;
  private readonly eof = new Promise<void>((done) => (this.closed = done));
  private readonly onInput = (chunk: Uint8Array) => this.terminal?.write(chunk);
  private readonly onResize = () => this.terminal?.resize(process.stdout.columns || 80, process.stdout.rows || 24);

  constructor(env: Record<string, string | undefined> = process.env) {
    this.spec = {
      cols: process.stdout.columns || 80,
      rows: process.stdout.rows || 24,
      name: env.TERM || "xterm-256color",
      data: (_t, bytes) => writeAll(bytes),
      exit: () => this.closed(),
    };
  }

  /** Starts relaying once the agent's pty exists. */
  attach(terminal: Bun.Terminal): void {
    this.terminal = terminal;
    process.stdin.setRawMode?.(true);
    process.stdin.on("data", this.onInput);
    process.stdin.resume();
    process.on("SIGWINCH", this.onResize);
  }

  /** Waits (briefly) for the pty to drain, closes it and restores kraal's terminal. */
  async restore(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.eof, new Promise((done) => (timer = setTimeout(done, DRAIN_MS)))]);
    clearTimeout(timer);
    process.off("SIGWINCH", this.onResize);
    process.stdin.off("data", this.onInput);
    process.stdin.setRawMode?.(false);
    process.stdin.pause();
    this.terminal?.close();
  }
}

/** Writes all of `bytes` to stdout (a terminal: blocking writes, retried on EAGAIN). */
function writeAll(bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) {
    try {
      off += writeSync(1, bytes, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") return;
    }
  }
}
