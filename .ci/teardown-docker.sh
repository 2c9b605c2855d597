#!/usr/bin/env bash
# Stops the dockerd that .ci/setup-docker.sh started (its pid file), and only that one: an engine that was
# already running before the CI run is left alone. .ci/run calls every .ci/teardown-*.sh when it ends.
set -euo pipefail
PIDFILE="${TRIALMATCH_DOCKERD_PID:-/run/trialmatch-dockerd.pid}"
[ -f "$PIDFILE" ] || exit 0
SUDO=''
[ "$(id -u)" -eq 0 ] || SUDO='sudo'
pid="$(cat "$PIDFILE")"
if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
  # Containers a failed test left behind would keep ports and memory: list them in the log, then stop the engine
  # (dockerd stops its containers on SIGTERM).
  $SUDO docker ps --format 'teardown-docker: still running: {{.Names}} ({{.Image}})' 2>/dev/null || true
  $SUDO kill -TERM "$pid"
  for _ in $(seq 60); do [ -d "/proc/$pid" ] || break; sleep 1; done
  [ -d "/proc/$pid" ] && { echo "teardown-docker: dockerd $pid did not stop in 60 s; killing it" >&2; $SUDO kill -KILL "$pid"; }
  echo "teardown-docker: stopped dockerd $pid"
fi
$SUDO rm -f "$PIDFILE"
