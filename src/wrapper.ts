/**
 * The POSIX sh wrapper every agent runs inside. It is started with setsid (so it leads a new
 * session and process group whose id is its pid) and is invoked as
 *
 *   sh -c WRAPPER corral-wrapper EXIT_FILE GRACE_SECONDS CMD [ARGS...]
 *
 * with the agent's argv passed through "$@", never glued into a shell string.
 *
 * - It waits on fd 3 for "go", which the spawner writes only after the handle is on disk.
 *   If the spawner dies first, fd 3 reads EOF and the wrapper exits without starting the agent:
 *   no agent ever runs untracked.
 * - It runs the agent in the foreground and traps TERM/INT/HUP with a handler (not an ignore,
 *   which children would inherit), so a group-wide TERM ends the agent but not the wrapper.
 *   The wrapper therefore lives exactly as long as its agent: a faithful liveness probe.
 * - When the agent ends, it records `<pid> <status>` atomically in EXIT_FILE, then ends the rest
 *   of the group: at once if a stop was requested (whoever sent TERM already gave the grace),
 *   otherwise TERM, GRACE_SECONDS, KILL. `kill -KILL 0` ends the wrapper too.
 */
export const WRAPPER_SCRIPT = `exitf=$1 grace=$2
shift 2
stop=
trap 'stop=1' TERM INT HUP
IFS= read -r go <&3 || exit 125
exec 3<&-
[ "$go" = go ] || exit 125
"$@"
st=$?
printf '%s %s\\n' "$$" "$st" >"$exitf.$$" && mv -f "$exitf.$$" "$exitf"
[ -z "$stop" ] || kill -KILL 0
kill -TERM 0
sleep "$grace"
kill -KILL 0
`;

/** argv[0] the wrapper shows in `ps`, so a person can tell wrappers from agents. */
export const WRAPPER_NAME = "corral-wrapper";

/** Formats a grace for sleep(1): seconds with millisecond precision. */
export function graceSeconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}
