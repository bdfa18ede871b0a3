#!/bin/sh
# kraal installer.
#
#   installer=$(curl -fsSL https://github.com/kraal-dev/kraal/releases/latest/download/install.sh) && sh -c "$installer" install.sh
#   ... && sh -c "$installer" install.sh --version 0.1.0
# (not `curl ... | sh`, whose status is sh's even when the download failed)
#
# Downloads the release tarball for this machine and SHA256SUMS, verifies the checksum (and
# refuses to install on a mismatch or a missing entry), and installs `kraal` atomically to
# ${KRAAL_INSTALL_DIR:-$HOME/.local/bin}. POSIX sh (dash is fine). Every step is a function
# and the only top-level command is the last line, so a truncated download runs nothing.

# Set from package.json's "repository" by the release build (scripts/build.ts), which publishes this file.
DEFAULT_DOWNLOAD_URL="https://github.com/kraal-dev/kraal/releases"

usage() {
  cat <<'USAGE'
Install kraal, a supervisor for AI coding agents.

Usage: install.sh [--version X] [--force] [--help]

  --version X   install release X (default: the latest; also KRAAL_VERSION)
  --force       reinstall even if that version is already installed
  --help        show this help

Environment:
  KRAAL_INSTALL_DIR   where to install (default: $HOME/.local/bin)
  KRAAL_VERSION       release to install (default: latest)
  KRAAL_TARGET        release target, e.g. linux-x64, linux-x64-baseline, linux-arm64,
                       linux-x64-musl, linux-arm64-musl (default: detected)
  KRAAL_DOWNLOAD_URL  releases URL (default: this installer's own releases)

Exit status: 0 installed (or already installed), 1 failed, 2 bad usage.
USAGE
}

say() {
  printf 'kraal-install: %s\n' "$*" >&2
}

die() {
  printf 'kraal-install: error: %s\n' "$*" >&2
  exit 1
}

usage_error() {
  printf 'kraal-install: %s (see --help)\n' "$*" >&2
  exit 2
}

parse_args() {
  version=${KRAAL_VERSION:-}
  force=
  while [ $# -gt 0 ]; do
    case $1 in
      --version)
        [ $# -ge 2 ] || usage_error "--version needs a value"
        version=$2
        shift 2
        ;;
      --version=*)
        version=${1#--version=}
        shift
        ;;
      --force)
        force=1
        shift
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        usage_error "unknown option: $1"
        ;;
    esac
  done
  version=${version#v}
  case $version in
    "" | [0-9]*) ;;
    *) usage_error "not a version: $version" ;;
  esac
}

# Prints the release target for this machine: OS, architecture, libc, and AVX2 for x64 (the
# baseline build when AVX2 is missing or cannot be detected).
detect_target() {
  if [ -n "${KRAAL_TARGET:-}" ]; then
    printf '%s\n' "$KRAAL_TARGET"
    return
  fi
  os=$(uname -s)
  [ "$os" = Linux ] || die "kraal runs on Linux only (this is $os)"
  case $(uname -m) in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no kraal build for this CPU ($(uname -m)); set KRAAL_TARGET to override" ;;
  esac
  if is_musl; then
    printf 'linux-%s-musl\n' "$arch"
  elif [ "$arch" = x64 ] && ! has_avx2; then
    printf 'linux-x64-baseline\n'
  else
    printf 'linux-%s\n' "$arch"
  fi
}

is_musl() {
  for f in /lib/ld-musl-*.so.1; do
    [ -e "$f" ] && return 0
  done
  ldd --version 2>&1 | grep -qi musl
}

has_avx2() {
  [ -r /proc/cpuinfo ] && grep -qw avx2 /proc/cpuinfo
}

# fetch URL FILE: downloads with curl or wget; fails on HTTP errors, leaving the client's own
# reason in $tmp/fetch.err for the error message.
fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$2" "$1" 2>"$tmp/fetch.err"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1" 2>"$tmp/fetch.err"
  else
    die "neither curl nor wget is installed"
  fi
}

# The download client's reason for the last failure, on one line ("" when it said nothing).
fetch_error() {
  reason=$(tr '\n' ' ' <"$tmp/fetch.err" 2>/dev/null | sed 's/ *$//')
  [ -n "$reason" ] && printf ': %s' "$reason"
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    die "neither sha256sum nor shasum is installed; cannot verify the download"
  fi
}

# verify FILE ASSET SUMS: the file's SHA-256 must equal ASSET's entry in SUMS.
verify() {
  expected=$(awk -v a="$2" '$2 == a || $2 == "*" a { print $1; exit }' "$3")
  [ -n "$expected" ] || die "SHA256SUMS has no entry for $2; refusing to install"
  actual=$(sha256_of "$1")
  [ "$actual" = "$expected" ] || die "checksum mismatch for $2 (expected $expected, got $actual); refusing to install"
}

# Prints the version a kraal binary reports ("kraal 0.1.0 (abc)" -> 0.1.0), or nothing.
version_of() {
  "$1" --version 2>/dev/null | sed -n 's/^kraal \([^ ]*\).*/\1/p'
}

cleanup() {
  [ -n "${tmp:-}" ] && rm -rf "$tmp"
}

main() {
  parse_args "$@"
  target=$(detect_target) || exit 1
  asset="kraal-$target.tar.gz"
  base=${KRAAL_DOWNLOAD_URL:-$DEFAULT_DOWNLOAD_URL}
  base=${base%/}
  if [ -n "$version" ]; then
    url="$base/download/v$version"
  else
    url="$base/latest/download"
  fi
  dir=${KRAAL_INSTALL_DIR:-${HOME:?HOME is not set}/.local/bin}

  tmp=$(mktemp -d "${TMPDIR:-/tmp}/kraal-install.XXXXXX") || die "cannot create a temporary directory"
  trap cleanup EXIT
  trap 'exit 1' HUP INT TERM

  # Ask the release which version it holds (a few bytes) before downloading the archive, so an
  # up-to-date install costs no 50 MB download.
  if [ -z "$force" ] && [ -x "$dir/kraal" ]; then
    want=$version
    if [ -z "$want" ] && fetch "$url/VERSION" "$tmp/VERSION"; then
      want=$(sed -n '1{s/^v//;s/[[:space:]]//g;p;}' "$tmp/VERSION")
    fi
    if [ -n "$want" ] && [ "$(version_of "$dir/kraal")" = "$want" ]; then
      say "kraal $want is already installed in $dir (use --force to reinstall)"
      finish
      return
    fi
  fi

  say "downloading $asset (${version:-latest})"
  fetch "$url/$asset" "$tmp/$asset" || die "cannot download $url/$asset$(fetch_error)"
  fetch "$url/SHA256SUMS" "$tmp/SHA256SUMS" || die "cannot download $url/SHA256SUMS$(fetch_error)"
  verify "$tmp/$asset" "$asset" "$tmp/SHA256SUMS"

  mkdir -p "$tmp/x"
  tar -xzf "$tmp/$asset" -C "$tmp/x" || die "cannot unpack $asset"
  [ -f "$tmp/x/kraal" ] || die "$asset holds no kraal binary"
  chmod 755 "$tmp/x/kraal"
  new=$(version_of "$tmp/x/kraal")
  [ -n "$new" ] || die "the downloaded kraal does not run on this machine (target $target); set KRAAL_TARGET"

  if [ -z "$force" ] && [ -x "$dir/kraal" ] && [ "$(version_of "$dir/kraal")" = "$new" ]; then
    say "kraal $new is already installed in $dir (use --force to reinstall)"
  else
    mkdir -p "$dir" || die "cannot create $dir"
    # Same-directory temp file + rename: atomic, and a running kraal keeps its old inode.
    cp "$tmp/x/kraal" "$dir/.kraal.new.$$" || die "cannot write to $dir"
    chmod 755 "$dir/.kraal.new.$$"
    mv -f "$dir/.kraal.new.$$" "$dir/kraal" || die "cannot install into $dir"
    say "installed kraal $new to $dir/kraal"
  fi
  finish
}

# After an install (or finding one up to date): tell GitHub Actions and the user about the PATH.
finish() {
  if [ -n "${GITHUB_ACTIONS:-}" ] && [ -n "${GITHUB_PATH:-}" ]; then
    printf '%s\n' "$dir" >>"$GITHUB_PATH"
  fi
  case ":${PATH:-}:" in
    *":$dir:"*) ;;
    *) say "add it to your PATH:  export PATH=\"$dir:\$PATH\"" ;;
  esac
}

main "$@"
