/** What one git command did. */
export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real git CLI in `cwd` and waits for it. Never through a shell; never prompts (no
 * terminal, GIT_TERMINAL_PROMPT=0), and in the C locale so messages are the same everywhere.
 * A git that is not installed is reported as code 127, like a shell would.
 */
export function git(args: string[], cwd: string, env: Record<string, string | undefined> = process.env): GitResult {
  try {
    const r = Bun.spawnSync(["git", ...args], {
      cwd,
      env: { ...env, LC_ALL: "C", GIT_TERMINAL_PROMPT: "0" } as Record<string, string>,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: r.exitCode ?? 128, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  } catch (e) {
    return { code: 127, stdout: "", stderr: `git: ${(e as Error).message}` };
  }
}

/** The first line of a failed git command's complaint, without git's "fatal: " prefix. */
export function gitComplaint(r: GitResult): string {
  const line = r.stderr.split("\n").find((l) => l.trim() !== "") ?? `git exited ${r.code}`;
  return line.replace(/^(fatal|error): /, "").trim();
}
