#!/usr/bin/env bash
# The browser tests (test/browser/) drive Debian's Chromium through playwright-core: Playwright's own
# browser download does not work on these machines. Installs the chromium package when it is missing.
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
fi
"$CHROMIUM" --version
