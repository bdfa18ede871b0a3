#!/bin/sh
# The README's main-job demo: two agents spawned, listed, one killed, listed again.
# Uses a private state directory so it never touches yours.
set -eu
kraal="$(cd "$(dirname "$0")/.." && pwd)/dist/kraal"
KRAAL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kraal-demo.XXXXXX")
export KRAAL_DIR
trap '"$kraal" kill --all >/dev/null 2>&1 || true; rm -rf "$KRAAL_DIR"' EXIT

step() { printf '\n$ %s\n' "$*"; "$@"; }

step "$kraal" --version
step "$kraal" spawn writer -- sh -c 'i=0; while :; do i=$((i+1)); echo "writer: draft $i"; sleep 0.2; done'
step "$kraal" spawn reviewer -- sh -c 'sleep 1000 & echo "reviewer: helper $! started"; while :; do sleep 0.3; echo "reviewer: looking"; done'
sleep 0.5
step "$kraal" ps
step "$kraal" logs writer -n 2
step "$kraal" kill reviewer
step "$kraal" ps -a
step "$kraal" status reviewer || echo "(status exits $? for an agent that is not running)"

# The foreground supervisor: a set of agents from one file, one terminal, restarts by policy.
cd "$(dirname "$0")/.."
step "$kraal" up -f examples/kraal.toml
step "$kraal" ps -a
