#!/usr/bin/env bash
# make test: everything CI runs, on a fresh machine or a warm one.
#
# Stages run in order of cost and dependency; a failing stage is reported and
# the independent ones after it still run, so one CI run shows every failure.
# The Kubernetes binaries take the longest to build on a cold machine, so their
# build starts first, in the background at low priority, and the stages that
# need it wait for it at the end.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
source scripts/lib/common.sh

export PATH="$PWD/node_modules/.bin:$PATH"
export FORCE_COLOR=${FORCE_COLOR:-0}
ensure_run_dirs

declare -a SUMMARY=()
FAILED=0
RUN_START=$(now_ms)

stage() { # name command...
	local name=$1
	shift
	local t0
	t0=$(now_ms)
	printf '\n%s━━ %s%s\n' "$C_BLUE" "$name" "$C_RESET"
	if "$@"; then
		SUMMARY+=("$(printf ' ok    %-36s %8s' "$name" "$(elapsed_since "$t0")")")
		return 0
	fi
	SUMMARY+=("$(printf ' FAIL  %-36s %8s' "$name" "$(elapsed_since "$t0")")")
	FAILED=1
	return 1
}

# A stage that cannot run because one it needs failed is reported, not hidden.
blocked() { # name reason
	SUMMARY+=("$(printf ' SKIP  %-36s blocked: %s' "$1" "$2")")
	FAILED=1
}

if ! stage "install (apt, npm, prisma generate)" scripts/bootstrap.sh; then
	printf '%s\n' "${SUMMARY[@]}"
	die "the install failed; nothing else can run"
fi

K8S_TOOLS_LOG=$SHOP_LOG_DIR/k8s-tools.log
nice -n 15 scripts/k8s.sh tools >"$K8S_TOOLS_LOG" 2>&1 &
K8S_TOOLS_PID=$!
log_dim "building the Kubernetes binaries in the background (log: $(rel "$K8S_TOOLS_LOG"))"

stage "lint (biome)" biome check .
stage "type-check (tsc, strict)" tsc -p tsconfig.json --noEmit
stage "unit tests" vitest run --project unit

if stage "infrastructure (Postgres, Kafka)" scripts/infra.sh up; then
	stage "integration tests (Postgres, Kafka)" vitest run --project integration
	stage "end-to-end (smoke, crash, trace)" vitest run --project e2e
else
	blocked "integration tests" "the infrastructure did not start"
	blocked "end-to-end" "the infrastructure did not start"
fi

printf '\n%s━━ waiting for the Kubernetes binaries%s\n' "$C_BLUE" "$C_RESET"
if wait "$K8S_TOOLS_PID"; then
	SUMMARY+=("$(printf ' ok    %-36s' 'Kubernetes binaries')")
else
	tail -n 30 "$K8S_TOOLS_LOG" >&2
	SUMMARY+=("$(printf ' FAIL  %-36s see %s' 'Kubernetes binaries' "$(rel "$K8S_TOOLS_LOG")")")
	FAILED=1
fi

printf '\n%s━━ summary%s (%s)\n' "$C_BLUE" "$C_RESET" "$(elapsed_since "$RUN_START")"
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
