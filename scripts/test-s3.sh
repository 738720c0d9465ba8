#!/usr/bin/env bash
# The S3 integration suite: a throwaway Ceph RGW (real S3 with Object Lock), then test/s3/*.rgw.ts.
# Needs root and Debian's radosgw, ceph-mon, ceph-osd (see README). Stops the cluster on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${AMBER_RGW_DIR:-$(mktemp -d /tmp/amber-rgw-test.XXXXXX)}"
rmdir "$dir" 2>/dev/null || true
export RGW_PORT="${RGW_PORT:-auto}"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true # the SDK nags about Node 22 on every client
trap 'scripts/rgw.sh stop "$dir" >/dev/null 2>&1 || true' EXIT
env_lines="$(scripts/rgw.sh start "$dir")"
set -a
eval "$env_lines"
set +a
echo "RGW at $AMBER_S3_ENDPOINT ($dir)" >&2
# coverage belongs to `npm test`; this suite is about the server
if [ $# -eq 0 ]; then set -- test/s3/*.rgw.ts; fi
npx tap --disable-coverage --timeout=900 "$@"
