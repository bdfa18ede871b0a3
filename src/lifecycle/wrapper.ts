/**
 * The POSIX sh wrapper every agent runs inside. It is started with setsid (so it leads a new
 * session and process group whose id is its pid) and is invoked as
 *
 *   kraal-wrapper -c 'eval "$KRAAL_WRAPPER"' ID EXIT_FILE GRACE_SECONDS MODE CGROUP CMD [ARGS...]
 *
 * that is /bin/sh with argv[0] `kraal-wrapper` and the script in the environment variable
 * KRAAL_WRAPPER (unset before anything else runs, so the agent never sees it), so that `ps aux`
 * shows `kraal-wrapper -c eval "$KRAAL_WRAPPER" writer ...`, not a 30-line script; `ps -e`
 * shows `sh`.
 *
 * CGROUP is the agent's cgroup directory in the cgroup tier (the wrapper was started inside it),
 * empty in the group tier. Wherever the wrapper ends "the rest of the group" with KILL below, in
 * the cgroup tier it first writes 1 to CGROUP/cgroup.kill, which also ends every member that left
 * the group (setsid, daemons), and the wrapper itself.
 *
 * with the agent's argv passed through "$@", never glued into a shell string, and fd 6 open on
 * EXIT_FILE, which kraal created fresh (O_EXCL|O_NOFOLLOW) before starting it. The wrapper writes
 * its record through that fd only and never resolves the path itself, so nothing planted at
 * exits/<id> (a symlink, a FIFO) can redirect or block it; EXIT_FILE is passed so `ps` shows it.
 *
 * - The shell's own stderr goes to /dev/null (its job reports, "Terminated" and the like, are not
 *   the agent's output); the agent gets the real stderr back, and no extra fds.
 * - It waits on fd 3 for "go", which the spawner writes only after the handle is on disk.
 *   If the spawner dies first, fd 3 reads EOF and the wrapper exits without starting the agent:
 *   no agent ever runs untracked.
 * - It runs the agent in the foreground and traps TERM/INT/HUP/QUIT/USR1/USR2 (every stop signal) with a handler (not an ignore,
 *   which children would inherit), so a group-wide signal ends the agent but not the wrapper.
 *   The wrapper therefore lives exactly as long as its agent: a faithful liveness probe.
 * - When the agent ends on its own under MODE=attached, the wrapper exits with the agent's status
 *   and leaves leftovers to its supervising kraal (its parent, a subreaper), which reports and
 *   ends them. Otherwise it records `<pid> <status>` on fd 6 (one write(2) of a few bytes into
 *   the empty file kraal made: readers treat an empty or partial record as "not yet", and the pid
 *   ties it to this run), renames itself `kraal-ended` (its comm, which readers see in the
 *   /proc/<pid>/stat they read anyway: a live wrapper with another name has no record to read), then: if a stop was
 *   requested (it got TERM/INT/HUP), it KILLs the rest of the group at once (whoever asked gave
 *   the grace); if not (MODE=detached), TERM to the rest of the group, GRACE_SECONDS, KILL
 *   (`kill -KILL 0` ends the wrapper too), so an agent's background helpers never outlive it.
 * - MODE=attached also guards against the supervisor's death: fd 4 is a pipe whose write end only
 *   the supervisor holds. A watcher subshell (ignoring TERM, so a forwarded stop cannot remove
 *   the safety net) blocks reading it; EOF means the supervisor died, and the watcher ends the
 *   whole group: TERM, GRACE_SECONDS, KILL (cgroup.kill in the cgroup tier, which also ends the
 *   processes that left the group). This is PDEATHSIG for a whole process tree. The watcher first
 *   sends the wrapper SIGALRM, so that the wrapper, whose agent then ends on the TERM, also waits
 *   the grace and then ends everything (killall_) instead of `kill -KILL 0` at once, which would
 *   end the watcher before its cgroup.kill and leave every escapee of a dead `run` or `up`
 *   running. (It does not wait for the watcher: an ALRM sent by the agent, not by the watcher,
 *   must not leave the wrapper waiting on a watcher that waits on a live supervisor.)
 */
export const WRAPPER_SCRIPT = `unset KRAAL_WRAPPER
exitf=$1 grace=$2 mode=$3 cg=$4
shift 4
exec 5>&2 2>/dev/null
killall_() { [ -z "$cg" ] || echo 1 >"$cg/cgroup.kill"; kill -KILL 0; }
stop= orphan=
trap 'stop=1' TERM INT HUP QUIT USR1 USR2
trap 'orphan=1' ALRM
IFS= read -r go <&3 || exit 125
exec 3<&-
[ "$go" = go ] || exit 125
watcher=
if [ "$mode" = attached ]; then
  (trap '' TERM INT HUP QUIT USR1 USR2; while read -r _; do :; done; kill -ALRM $$; kill -TERM 0; sleep "$grace"; killall_) <&4 6>&- &
  watcher=$!
  exec 4<&-
fi
( exec "$@" 2>&5 5>&- 6>&- )
st=$?
if [ -n "$watcher" ] && [ -z "$stop$orphan" ]; then
  kill -KILL "$watcher"
  wait "$watcher"
  exit "$st"
fi
printf '%s %s\\n' "$$" "$st" >&6
printf kraal-ended >"/proc/$$/comm"
if [ -n "$orphan" ]; then
  sleep "$grace"
  killall_
fi
[ -z "$stop" ] || kill -KILL 0
kill -TERM 0
sleep "$grace"
killall_
`;

/** argv[0] the wrapper shows in `ps`, so a person can tell wrappers from agents. */
export const WRAPPER_NAME = "kraal-wrapper";

/** The environment variable that carries the script to the wrapper's `eval`. */
export const WRAPPER_ENV = "KRAAL_WRAPPER";

/** The wrapper's argv (run it with argv0 WRAPPER_NAME and WRAPPER_ENV=WRAPPER_SCRIPT in its environment). */
export function wrapperArgv(id: string, exitFile: string, grace: string, mode: WrapperMode, cgroup: string, argv: string[]): string[] {
  return ["/bin/sh", "-c", `eval "$${WRAPPER_ENV}"`, id, exitFile, grace, mode, cgroup, ...argv];
}

/** The wrapper's environment: the agent's, plus the script (which the wrapper unsets first). */
export function wrapperEnv(env: Record<string, string | undefined> | undefined): Record<string, string | undefined> {
  return { ...(env ?? process.env), [WRAPPER_ENV]: WRAPPER_SCRIPT };
}

export type WrapperMode = "detached" | "attached";

/** Formats a grace for sleep(1): seconds with millisecond precision. */
export function graceSeconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}
