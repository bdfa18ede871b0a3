#!/bin/sh
# The README's main-job demo: two agents spawned, listed, one killed, listed again.
# Uses a private state directory so it never touches yours.
set -eu
corral="$(cd "$(dirname "$0")/.." && pwd)/dist/corral"
CORRAL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/corral-demo.XXXXXX")
export CORRAL_DIR
trap '"$corral" kill --all >/dev/null 2>&1 || true; rm -rf "$CORRAL_DIR"' EXIT

step() { printf '\n$ %s\n' "$*"; "$@"; }

step "$corral" --version
step "$corral" spawn writer -- sh -c 'i=0; while :; do i=$((i+1)); echo "writer: draft $i"; sleep 0.2; done'
step "$corral" spawn reviewer -- sh -c 'sleep 1000 & echo "reviewer: helper $! started"; while :; do sleep 0.3; echo "reviewer: looking"; done'
sleep 0.5
step "$corral" ps
step "$corral" logs writer -n 2
step "$corral" kill reviewer
step "$corral" ps -a
step "$corral" status reviewer || echo "(status exits $? for an agent that is not running)"

# The foreground supervisor: a set of agents from one file, one terminal, restarts by policy.
cd "$(dirname "$0")/.."
step "$corral" up -f examples/corral.toml
step "$corral" ps -a
