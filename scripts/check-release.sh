#!/usr/bin/env bash
# Checks the release where no Swift exists: debootstraps a minimal Debian (the suite and mirror this machine's apt
# uses) with only python3 and bubblewrap, copies the archive from scripts/release.sh in, and inside it, through
# `bwrap --bind ROOT /` (not chroot: user namespaces, and so the strict sandbox, work there), as an ordinary user
# with no network but loopback: unpacks it, then runs `rlm --version`, `rlm doctor`, a simulated bench and
# `rlm ask` against `rlm simulate` (the same binary as model server). Then installs the wheel into a fresh
# virtual environment here and runs `rlm --version` and a simulated bench from it.
# Every step is logged and timed (dist/check-release.log); the first failure stops the script.
#
#   bash scripts/check-release.sh      # needs root (debootstrap); run scripts/release.sh first
#
# Environment: RLM_DIST (default dist), RLM_CHECK_CACHE (where the Debian folder is kept between runs, default
# .build-check; delete it to start clean).
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${RLM_DIST:-dist}
cache=${RLM_CHECK_CACHE:-.build-check}
log="$dist/check-release.log"
arch=$(uname -m)
archive=$(ls -t "$dist"/rlm-*-linux-"$arch".tar.gz 2>/dev/null | head -1 || true)
wheel=$(ls -t "$dist"/swift_rlm-*.whl 2>/dev/null | head -1 || true)
if [ -z "$archive" ] || [ -z "$wheel" ]; then
  echo "check-release.sh: no archive or wheel in $dist; run scripts/release.sh first" >&2
  exit 1
fi
: > "$log"
elapsed() { awk -v from="$1" -v to="$(date +%s.%N)" 'BEGIN { printf "%.1f", to - from }'; }
say() { echo "check-release.sh: $*" | tee -a "$log" >&2; }
# step LABEL COMMAND...: runs it, its output into the log, and times it; stops the script when it fails.
step() {
  local label=$1; shift
  local began=$(date +%s.%N)
  say "--- $label"
  if "$@" 2>&1 | tee -a "$log"; then
    say "ok $label ($(elapsed "$began") s)"
  else
    say "FAILED $label (see $log)"
    exit 1
  fi
}
total_start=$(date +%s.%N)

(cd "$dist" && sha256sum -c "$(basename "$archive").sha256") | tee -a "$log"

# --- A minimal Debian: the suite this machine runs, from the mirror its apt sources name.
. /etc/os-release
suite=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
mirror=$(
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -e "$file" ] || continue
    # deb822 stanzas: the first URI of a `deb` stanza whose Suites list the suite itself.
    awk -v suite="$suite" 'BEGIN { RS = "" } {
      uri = ""; hasSuite = 0; isDeb = 0
      n = split($0, lines, "\n")
      for (i = 1; i <= n; i++) {
        if (lines[i] ~ /^URIs:/) { split(lines[i], u, /[ \t]+/); uri = u[2] }
        if (lines[i] ~ /^Suites:/) { m = split(lines[i], s, /[ \t]+/); for (j = 2; j <= m; j++) if (s[j] == suite) hasSuite = 1 }
        if (lines[i] ~ /^Types:/ && lines[i] ~ /[ \t]deb([ \t]|$)/) isDeb = 1
      }
      if (uri != "" && hasSuite && isDeb) { print uri; exit }
    }' "$file"
  done
  # One-line sources: deb [options] URI SUITE COMPONENTS...
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk -v suite="$suite" '$1 == "deb" {
    i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
    if ($(i + 1) == suite) { print $i; exit }
  }' || true
)
mirror=$(echo "$mirror" | head -1)
[ -n "$mirror" ] || { say "no deb source for $suite in /etc/apt/sources.list*; cannot debootstrap"; exit 1; }
case $cache in /*) ;; *) cache="$(pwd)/$cache" ;; esac
root="$cache/debian-$suite-$arch"
if [ ! -e "$root/.rlm-check-ready" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
  rm -rf "$root"
  mkdir -p "$root"
  step "debootstrap $suite (minbase + python3, bubblewrap) from the apt mirror" \
    debootstrap --variant=minbase --include=python3,bubblewrap "$suite" "$root" "$mirror"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  touch "$root/.rlm-check-ready"
else
  say "reusing the Debian folder $root (delete $cache to start clean)"
fi
say "the Debian folder has no Swift: $(find "$root" -name 'libswiftCore*' -o -name swift -type f | wc -l) Swift files; $(du -sh "$root" | cut -f1)"

# --- A fresh home and work folder for the check, the archive copied in.
rm -rf "$root/check"
mkdir -p "$root/check/home"
cp "$archive" "$root/check/"
cat > "$root/check/question.txt" <<'TEXT'
The lighthouse keeper logged the weather every night for forty years.
Among the entries: the special magic number for harbour is 4817.
The lamp was last lit on a calm night in October.
TEXT

# inside SCRIPT: runs SCRIPT with sh in the Debian folder as uid 1000 in its own user and network namespaces
# (loopback only), with a clean environment. /proc is this machine's, bound: the strict sandbox's own bwrap mounts
# a new proc, which the kernel allows only where a proc is fully visible (bwrap's --proc covers parts of it).
inside() {
  bwrap --bind "$root" / --dev /dev --bind /proc /proc --tmpfs /tmp \
    --unshare-user --uid 1000 --gid 1000 --unshare-net --unshare-ipc --unshare-uts --die-with-parent \
    --clearenv --setenv PATH /check/bin:/usr/local/bin:/usr/bin:/bin --setenv HOME /check/home \
    --setenv LANG C.UTF-8 --chdir /check /bin/sh -euc "$1"
}
name=$(basename "$archive" .tar.gz)
step "unpack the archive" inside "tar xzf $(basename "$archive") && mkdir -p bin && ln -sf /check/$name/rlm bin/rlm && ls -l $name"
step "rlm --version" inside "rlm --version"
step "rlm doctor (no model server configured: a warning, exit 0)" inside "rlm doctor"
step "rlm bench niah --simulated --sizes 8k --tasks 2" inside "rlm bench niah --simulated --sizes 8k --tasks 2 --out bench"
step "rlm ask against rlm simulate" inside '
  rlm simulate --url-file /tmp/url >/dev/null 2>/tmp/simulate.log &
  server=$!
  i=0; while [ ! -s /tmp/url ]; do i=$((i + 1)); [ $i -lt 100 ] || { cat /tmp/simulate.log; exit 1; }; sleep 0.1; done
  answer=$(RLM_BASE_URL=$(cat /tmp/url) rlm ask --model simulated-root --sub-model simulated-sub --quiet \
    --context question.txt "What is the special magic number for harbour mentioned in the context?")
  kill $server
  echo "answer: $answer"
  [ "$answer" = 4817 ]'

# --- The wheel in a fresh virtual environment on this machine.
venv=$(mktemp -d)/venv
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3-venv
  python3 -m venv "$venv"
fi
step "pip install $(basename "$wheel") into a fresh venv" "$venv/bin/pip" install --no-index --quiet "$wheel"
step "venv: rlm --version" env PATH="$venv/bin:$PATH" sh -c 'command -v rlm && rlm --version'
step "venv: rlm bench niah --simulated --sizes 8k --tasks 2" env PATH="$venv/bin:$PATH" \
  sh -c "cd $(dirname "$venv") && rlm bench niah --simulated --sizes 8k --tasks 2 --out bench"
rm -rf "$(dirname "$venv")"
say "all checks passed in $(elapsed "$total_start") s; log: $log"
