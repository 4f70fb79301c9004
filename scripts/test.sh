#!/usr/bin/env bash
# Sets up everything and runs the whole test suite (unit, integration, e2e) as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent lint
exec npx vitest run
