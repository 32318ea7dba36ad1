#!/usr/bin/env bash
# make dev: every service on this machine against the infrastructure of
# `make infra-up`, sources watched, logs prefixed. The runner lives in
# packages/stack (the end-to-end tests start the system the same way).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --conditions=source --import tsx packages/stack/src/cli.ts
