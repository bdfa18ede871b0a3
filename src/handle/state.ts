import { mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** Where each kind of record lives under the state directory (documented in README.md). */
export interface Layout {
  root: string;
  /** One owned handle per agent: pids/<encoded-id>. */
  pids: string;
  /** Exit records written by the wrapper when its agent ends: exits/<encoded-id>. */
  exits: string;
  /** Each agent's stdout+stderr, one rotated generation: logs/<encoded-id>.log(.1). */
  logs: string;
  /** Odd files moved aside by `kraal sweep`, never deleted. */
  quarantine: string;
  /** Append-only JSON lines of finished agents. */
  history: string;
  /** flock(2) target serializing handle creation and removal. */
  lock: string;
}

export function layoutOf(root: string): Layout {
  return {
    root,
    pids: join(root, "pids"),
    exits: join(root, "exits"),
    logs: join(root, "logs"),
    quarantine: join(root, "quarantine"),
    history: join(root, "history.jsonl"),
    lock: join(root, "lock"),
  };
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The state directory: `--dir`, else $KRAAL_DIR, else the nearest ancestor of `cwd` holding a
 * `.kraal/` directory, else `./.kraal` (which only commands that write will create).
 */
export function resolveStateDir(opts: { dir?: string; env?: Record<string, string | undefined>; cwd?: string } = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  const fromEnv = (opts.env ?? process.env).KRAAL_DIR;
  if (opts.dir) return resolve(cwd, opts.dir);
  if (fromEnv) return resolve(cwd, fromEnv);
  for (let d = cwd; ; d = dirname(d)) {
    if (isDir(join(d, ".kraal"))) return join(d, ".kraal");
    if (dirname(d) === d) break;
  }
  return join(cwd, ".kraal");
}

/** Creates the directories a writing command needs (private to the user: handles name processes). */
export function ensureLayout(l: Layout): void {
  for (const d of [l.pids, l.exits, l.logs]) mkdirSync(d, { recursive: true, mode: 0o700 });
}
