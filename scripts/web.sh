#!/usr/bin/env bash
# The web dashboard (web/): npm packages and the bundle that `overdrive server` serves.
#   scripts/web.sh build       npm ci when web/node_modules is missing or older than
#                              package-lock.json, then npm run build when a source is newer
#                              than web/dist (idempotent: a second run does nothing)
#   scripts/web.sh test-deps   make sure playwright-core (for tests/web) is installed
# Needs node and npm (Debian's nodejs/npm, or any node >= 20.19).
set -euo pipefail
cd "$(dirname "$0")/../web"

need_node() {
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "web: node and npm are needed to build the dashboard (apt-get install nodejs npm)" >&2
    exit 1
  fi
  # Vite 8 needs node ^20.19 or >= 22.12.
  if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)||(a===20&&b>=19)?0:1)'; then
    echo "web: node $(node --version) is too old for the dashboard's build (Vite needs 20.19+ or 22.12+)" >&2
    exit 1
  fi
}

install_deps() {
  # node_modules/.package-lock.json is written by every npm install/ci: its time says when.
  if [[ ! -d node_modules || ! -f node_modules/.package-lock.json ||
        package-lock.json -nt node_modules/.package-lock.json ||
        package.json -nt node_modules/.package-lock.json ]]; then
    echo "web: npm ci (installing the dashboard's packages)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

build() {
  need_node
  install_deps
  local stamp=dist/index.html newer=""
  if [[ -f $stamp ]]; then
    newer=$(find src index.html vite.config.ts tsconfig.json package.json package-lock.json \
      -newer "$stamp" -print -quit 2>/dev/null || true)
  fi
  if [[ ! -f $stamp || -n $newer ]]; then
    echo "web: building web/dist${newer:+ ($newer changed)}"
    npm run --silent build -- --logLevel warn
    touch "$stamp"
  else
    echo "web: web/dist is up to date"
  fi
}

case "${1:-build}" in
  build) build ;;
  test-deps)
    need_node
    install_deps
    if [[ ! -f node_modules/playwright-core/package.json ]]; then
      echo "web: installing playwright-core"
      npm ci --no-audit --no-fund --loglevel=error
    fi
    ;;
  *) echo "usage: scripts/web.sh [build|test-deps]" >&2; exit 2 ;;
esac
