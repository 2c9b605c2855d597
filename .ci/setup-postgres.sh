#!/usr/bin/env bash
# CI setup for the two-replica tests (test/replicas/, issue #12 item 4): Debian's PostgreSQL server binaries.
# The test setup (test/support/postgres.ts) starts a throwaway cluster on a free port and removes it; this
# only makes sure initdb and pg_ctl exist. Idempotent: does nothing when they are installed.
set -euo pipefail
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  echo "setup-postgres: $(ls -d /usr/lib/postgresql/*/bin | head -1) present"
  exit 0
fi
SUDO=''
[ "$(id -u)" -eq 0 ] || SUDO='sudo'
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y postgresql
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || { echo 'setup-postgres: initdb still missing after apt-get install postgresql' >&2; exit 1; }
echo "setup-postgres: installed $(ls -d /usr/lib/postgresql/*/bin | head -1)"
