#!/usr/bin/env bash
# npm run check:ops: the deployment and alerting configuration (ops/, docker-compose.yml).
#   promtool (Debian's `prometheus` package; `npm run services` installs it): both Prometheus
#     configurations with the rules they load, the rules, the rules' unit tests;
#   lua5.4: the Fluent Bit filter's tests;
#   scripts/checkManifests.ts: Kubernetes (kustomize render, schema, unknown fields, references),
#     docker-compose.yml (dclint: Compose Specification schema), the metric contract, the dashboard.
# Every step runs even when one before failed; the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
step() {
  local name=$1
  shift
  echo "::: check:ops: $name"
  if ! "$@"; then
    failed+=("$name")
  fi
}

for tool in promtool lua5.4; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check:ops: $tool is missing; 'npm run services' installs it (Debian packages prometheus, lua5.4)" >&2
    exit 1
  fi
done

step "promtool check config (compose)" promtool check config ops/prometheus/prometheus.yml
step "promtool check config (kubernetes)" promtool check config ops/prometheus/prometheus-kubernetes.yml
step "promtool check rules" promtool check rules ops/prometheus/rules/*.yml
step "promtool test rules" promtool test rules ops/prometheus/tests/*.yml
step "Fluent Bit filter tests" lua5.4 ops/logging/pino.test.lua
step "manifests" node_modules/.bin/tsx scripts/checkManifests.ts

if [ ${#failed[@]} -gt 0 ]; then
  echo "check:ops: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "check:ops: every check passed"
