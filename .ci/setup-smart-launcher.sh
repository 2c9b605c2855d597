#!/usr/bin/env bash
# Issue #11 item 5: the SMART app is tested through the real SMART launcher (smart-on-fhir/smart-launcher-v2).
# Its source sits read-only in the shared folder (SOURCE.md there says how it runs offline); this copies it to
# a scratch folder, installs its dependencies from its lockfile, and applies the one-line local patch that
# passes element 17 of the launch array (here {appContext}) into the token response and introspection.
# The shared copy is never changed. test/integration/smart-launch.test.ts reads SMART_LAUNCHER_DIR.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${SHARED_DIR:-$(cd "$REPO/.." && pwd)/shared}"
SRC="${SMART_LAUNCHER_SOURCE:-$SHARED/tools/smart-launcher}"
DEST="${SMART_LAUNCHER_DIR:-/tmp/trialmatch-smart-launcher}"
if [ ! -f "$SRC/SOURCE.md" ]; then
  echo "no SMART launcher source at $SRC (set SHARED_DIR or SMART_LAUNCHER_SOURCE)" >&2
  exit 1
fi
STAMP="$DEST/.trialmatch-ready"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1)" ]; then
  echo "SMART launcher already set up in $DEST"
  exit 0
fi
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
cp -r "$SRC" "$DEST"
cd "$DEST"
npm ci --no-audit --no-fund --ignore-scripts
# appContext (SMART App Launch 2.x, launch context): the launcher keeps only patient, encounter and two
# display flags in an authorization code's context; SOURCE.md gives this patch (checked there) to copy an
# 18th launch-array element (index 17, an object) into the context.
AUTH=backend/routes/auth/authorize.ts
PATCH='        try { const a = JSON.parse(Buffer.from(String(params.launch || this.request.params.sim || ""), "base64url").toString("utf8")); if (Array.isArray(a) \&\& a[17] \&\& typeof a[17] === "object") Object.assign(code.context, a[17]) } catch {}'
if ! grep -q 'a\[17\]' "$AUTH"; then
  # The line after the object literal `const code = {...};` that ends with `nonce : params.nonce` then `};`.
  awk -v patch="$PATCH" '
    { print }
    /const code: SMART.AuthorizationToken = \{/ { incode = 1 }
    incode && /^        \};/ { gsub(/\\&/, "\\&", patch); print patch; incode = 0; done = 1 }
    END { if (!done) exit 3 }
  ' "$AUTH" > "$AUTH.new" || { echo "could not patch $AUTH: createAuthCode changed" >&2; exit 1; }
  mv "$AUTH.new" "$AUTH"
fi
grep -q 'a\[17\]' "$AUTH"
sha256sum "$SRC/package-lock.json" | cut -d' ' -f1 > "$STAMP"
echo "SMART launcher ready in $DEST"
