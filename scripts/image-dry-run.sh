#!/usr/bin/env bash
# What the Dockerfile's runtime stage holds, assembled without a Docker engine and run as the
# image's user: production dependencies only (npm ci --omit=dev, as `npm prune --omit=dev` leaves
# them), dist/ and policies/, uid 65532. Catches a runtime import of a devDependency, a file the
# image lacks, or a write outside the data dir. Not a substitute for building the image.
# Usage: npm run build && scripts/image-dry-run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d /tmp/amber-image-XXXXXX)
trap 'rm -rf "$root"' EXIT
app="$root/app"
mkdir -p "$app"
cp package.json package-lock.json "$app/"
(cd "$app" && npm ci --omit=dev --no-audit --no-fund --ignore-scripts >/dev/null)
cp -r dist policies "$app/"
chmod -R a+rX "$root"
work="$root/work"
mkdir -p "$work" && chown 65532:65532 "$work"
as_image_user() { (cd "$work" && env -i PATH=/usr/bin:/bin NODE_ENV=production HOME="$work" setpriv --reuid 65532 --regid 65532 --clear-groups node "$app/dist/cli/main.js" "$@"); }
as_image_user --version
as_image_user --help >/dev/null
as_image_user demo --data-dir "$work/demo" --policies "$app/policies" | tee "$work/demo.log" | tail -3
bundle=$(sed -n 's/^bundle: //p' "$work/demo.log")
as_image_user verify "$bundle" --jwks "$work/demo/signing/jwks.json" | tail -1
as_image_user inspect "$bundle" | grep -E '^\s+(7|9) ' 
as_image_user jwks --data-dir "$work/demo" >/dev/null
echo "image dry run: OK (production dependencies only, uid 65532)"
