#!/usr/bin/env bash
# CI setup for the Docker paths (issue #22): a Docker engine, and local stand-ins for the images the
# Dockerfile, docker-compose.yml and the testcontainers code name, on a machine that reaches Debian's and
# npm's package servers but no image registry.
#  1. Installs Debian's docker.io, docker-compose and debootstrap when missing.
#  2. Starts dockerd when no engine answers, publishing container ports on 127.0.0.1 only (--ip), and leaves
#     its pid in $TRIALMATCH_DOCKERD_PID so .ci/teardown-docker.sh stops it at the end of .ci/run.
#  3. Builds each missing image under the exact name the project's files use (deploy/local-images/):
#     node:20-bookworm-slim, postgres:16-alpine, nginx:1.27-alpine, hapiproject/hapi:v8.8.0-1, all on a
#     Debian bookworm root filesystem (debootstrap --variant=minbase), cached as a tarball in
#     $TRIALMATCH_DOCKER_CACHE so a second machine run skips debootstrap. Images present are kept.
# A machine with a registry needs none of this: the real images are pulled (docs/deployment.md).
# Idempotent. Times each step (the note in .ci/run sums them).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${TRIALMATCH_DOCKER_CACHE:-/var/cache/trialmatch-docker}"
PIDFILE="${TRIALMATCH_DOCKERD_PID:-/run/trialmatch-dockerd.pid}"
BASE=trialmatch-local/debian:bookworm
SUDO=''
[ "$(id -u)" -eq 0 ] || SUDO='sudo'
t0=$(date +%s)
step() { echo "setup-docker: $* ($(( $(date +%s) - t0 )) s)"; }

missing=()
command -v docker >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
  step "installed ${missing[*]}"
fi

if ! $SUDO docker info >/dev/null 2>&1; then
  # --ip: a published port (testcontainers' -p, compose's ports) binds 127.0.0.1 unless it names an address.
  $SUDO bash -c "nohup dockerd --ip=127.0.0.1 >/var/log/trialmatch-dockerd.log 2>&1 & echo \$! > '$PIDFILE'"
  for _ in $(seq 60); do $SUDO docker info >/dev/null 2>&1 && break; sleep 1; done
  $SUDO docker info >/dev/null 2>&1 || { tail -30 /var/log/trialmatch-dockerd.log >&2; echo 'setup-docker: dockerd did not answer in 60 s' >&2; exit 1; }
  step "started dockerd (pid $(cat "$PIDFILE"), log /var/log/trialmatch-dockerd.log)"
fi
echo "setup-docker: engine $($SUDO docker version --format '{{.Server.Version}}'), $($SUDO docker info --format '{{.Driver}}, cgroup v{{.CgroupVersion}}')"

has() { $SUDO docker image inspect "$1" >/dev/null 2>&1; }

if ! has "$BASE"; then
  tarball="$CACHE/debian-bookworm-minbase.tar"
  if [ ! -s "$tarball" ]; then
    $SUDO mkdir -p "$CACHE"
    rootfs="$(mktemp -d)"
    $SUDO debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -30 "$CACHE/debootstrap.log" >&2; exit 1; }
    # Security and point-release updates, as the official Debian images have.
    printf '%s\n' 'deb http://deb.debian.org/debian bookworm main' 'deb http://deb.debian.org/debian bookworm-updates main' \
      'deb http://deb.debian.org/debian-security bookworm-security main' | $SUDO tee "$rootfs/etc/apt/sources.list" >/dev/null
    $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    $SUDO tar -C "$rootfs" -cf "$tarball.tmp" . && $SUDO mv "$tarball.tmp" "$tarball"
    $SUDO rm -rf "$rootfs"
    step "debootstrap bookworm minbase -> $tarball"
  fi
  $SUDO docker import "$tarball" "$BASE" >/dev/null
  step "imported $BASE"
fi

# build <tag> <Dockerfile in deploy/local-images> [files to copy into the context...]
build() {
  local tag="$1" file="$2"; shift 2
  if has "$tag"; then echo "setup-docker: $tag present"; return; fi
  local ctx
  ctx="$(mktemp -d)"
  cp "$REPO/deploy/local-images/$file" "$ctx/Dockerfile"
  for f in "$@"; do cp -a "$(readlink -f "$f")" "$ctx/$(basename "$f")"; done
  # --network host: the RUN steps' apt-get reaches Debian's servers the way the machine does.
  $SUDO docker build --network host -q ${BUILD_LABEL:+--label "$BUILD_LABEL"} -t "$tag" "$ctx" >/dev/null
  rm -rf "$ctx"
  step "built $tag ($($SUDO docker image inspect "$tag" --format '{{.Size}}' | numfmt --to=iec))"
}

NODE_BIN="$(readlink -f "$(command -v node)")"
NPM_DIR="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
"$NODE_BIN" -e 'process.exit(process.versions.node.split(".")[0] === "20" ? 0 : 1)' \
  || { echo "setup-docker: the machine's node is $("$NODE_BIN" --version), the Dockerfile names Node 20" >&2; exit 1; }
CA_BUNDLE="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
[ -s "$CA_BUNDLE" ] || { echo "setup-docker: no CA bundle at $CA_BUNDLE (install ca-certificates)" >&2; exit 1; }
build node:20-bookworm-slim node.Dockerfile "$NODE_BIN" "$NPM_DIR" "$CA_BUNDLE"
build postgres:16-alpine postgres.Dockerfile "$REPO/deploy/local-images/postgres-entrypoint.sh"
build nginx:1.27-alpine nginx.Dockerfile
# The same jar the Maven fallback runs (a no-op when it is up to date; .ci/setup-fhir-server.sh runs it too). The
# image carries the jar's digest: a stand-in built from an older jar (before bulk export was switched on, say) is
# rebuilt, never kept because its tag is present.
bash "$REPO/test/fhir-server/build.sh"
JAR="$REPO/test/fhir-server/target/hapi-fhir-test-server.jar"
JAR_SHA="$(sha256sum "$JAR" | cut -d' ' -f1)"
if has hapiproject/hapi:v8.8.0-1 \
  && [ "$($SUDO docker image inspect hapiproject/hapi:v8.8.0-1 --format '{{ index .Config.Labels "trialmatch.jar-sha256" }}' 2>/dev/null)" != "$JAR_SHA" ]; then
  $SUDO docker rmi -f hapiproject/hapi:v8.8.0-1 >/dev/null
  step "hapiproject/hapi:v8.8.0-1 was built from another jar: rebuilding"
fi
BUILD_LABEL="trialmatch.jar-sha256=$JAR_SHA" build hapiproject/hapi:v8.8.0-1 hapi.Dockerfile "$JAR"
step done
