#!/usr/bin/env bash
# Finds PgBouncer for the tests that run the handler behind it, and installs Debian's `pgbouncer` package with apt-get
# when it is missing (as root, or through sudo without a password). Prints the binary's path on its last line; exits
# non-zero when it can neither find nor install it. Run by .ci/run before the tests, and by tests/support/pgbouncer.ts
# when a test needs PgBouncer and finds none. The package's own service is not started.
set -euo pipefail

find_pgbouncer() {
  command -v pgbouncer 2>/dev/null && return 0
  local candidate
  for candidate in /usr/sbin/pgbouncer /usr/local/sbin/pgbouncer /usr/bin/pgbouncer /usr/local/bin/pgbouncer; do
    if [ -x "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if find_pgbouncer; then exit 0; fi

if ! command -v apt-get >/dev/null; then
  echo "Cannot install pgbouncer: it is not installed and there is no apt-get; install PgBouncer 1.18 or later" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! sudo -n true 2>/dev/null; then
    echo "Cannot install pgbouncer: not root and sudo asks for a password; run: apt-get install -y pgbouncer" >&2
    exit 1
  fi
  sudo=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
apt_get=("${sudo[@]}" apt-get -o DPkg::Lock::Timeout=120 -y -q)
# The package's service would listen on 6432 for nobody; exit code 101 tells invoke-rc.d not to start it.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  created_policy=1
fi
trap '[ "$created_policy" -eq 0 ] || "${sudo[@]}" rm -f "$policy"' EXIT
if ! "${apt_get[@]}" install --no-install-recommends pgbouncer >&2; then
  "${apt_get[@]}" update >&2
  "${apt_get[@]}" install --no-install-recommends pgbouncer >&2
fi
find_pgbouncer || { echo "Cannot find pgbouncer after installing the package" >&2; exit 1; }
