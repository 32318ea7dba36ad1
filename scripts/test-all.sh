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
declare -a FAILED_TESTS=()
FAILED=0
RUN_START=$(now_ms)

# The run must leave the checkout as it found it: no rewritten lock file, no
# generated file that is not ignored. Compared with the state at the start, so
# a developer's uncommitted work does not fail it.
TREE_BEFORE=$(git status --porcelain --untracked-files=all)
tree_unchanged() {
	local after
	after=$(git status --porcelain --untracked-files=all) || return 1
	[[ "$after" == "$TREE_BEFORE" ]] && return 0
	log_error "this run changed the work tree; git status lines it added:"
	diff <(printf '%s\n' "$TREE_BEFORE") <(printf '%s\n' "$after") | sed -n 's/^> /    /p' >&2
	return 1
}

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

# tests NAME PROJECT: a vitest project as a stage. Its failed tests are named again
# after the summary, which is the part of a long CI log that is sure to be seen.
tests() {
	local name=$1 project=$2 report="$SHOP_LOG_DIR/vitest-$2.json"
	rm -f "$report"
	stage "$name" vitest run --project "$project" --reporter=default --reporter=json \
		--outputFile.json="$report" && return 0
	if [[ -s $report ]]; then
		FAILED_TESTS+=("$name:" "$(node scripts/lib/failed-tests.mjs "$report")")
	else
		FAILED_TESTS+=("$name: no report was written; see the log above")
	fi
	return 1
}

# A vitest project started in the background (its output into a log), for a tier that
# can run beside others; finish_tests NAME PROJECT waits for it as a stage, then shows
# the log. The real-node tier is CPU-bound, the kwok tiers wait on the API server: side
# by side they take little more than the real-node tier alone.
declare -A BACKGROUND_TESTS=()
start_tests() { # project
	local project=$1
	rm -f "$SHOP_LOG_DIR/vitest-$project.json"
	vitest run --project "$project" --reporter=default --reporter=json \
		--outputFile.json="$SHOP_LOG_DIR/vitest-$project.json" >"$SHOP_LOG_DIR/vitest-$project.log" 2>&1 &
	BACKGROUND_TESTS[$project]=$!
	log_dim "the $project tier runs in the background (log: $(rel "$SHOP_LOG_DIR/vitest-$project.log"))"
}
await_tests() { # project: the background run's exit status, its log shown
	local status=0
	wait "${BACKGROUND_TESTS[$1]}" || status=$?
	cat "$SHOP_LOG_DIR/vitest-$1.log"
	return "$status"
}
finish_tests() { # name project
	local name=$1 project=$2 report="$SHOP_LOG_DIR/vitest-$2.json"
	stage "$name" await_tests "$project" && return 0
	if [[ -s $report ]]; then
		FAILED_TESTS+=("$name:" "$(node scripts/lib/failed-tests.mjs "$report")")
	else
		FAILED_TESTS+=("$name: no report was written; see the log above")
	fi
	return 1
}

# Stops the cluster this run started and compares the machine with before it started.
teardown_check() {
	scripts/k8s.sh down >/dev/null || return 1
	scripts/k8s/node.sh footprint >"$FOOTPRINT_AFTER" 2>/dev/null
	if ! diff -u "$FOOTPRINT_BEFORE" "$FOOTPRINT_AFTER"; then
		printf 'k8s-down left the machine different from before k8s-up (lines with + are new, - are gone)\n' >&2
		return 1
	fi
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
# The trace viewer of the end-to-end tier (Jaeger v2, also from the Go module proxy).
JAEGER_LOG=$SHOP_LOG_DIR/jaeger-build.log
nice -n 15 scripts/jaeger.sh build >"$JAEGER_LOG" 2>&1 &
JAEGER_PID=$!
log_dim "building the trace viewer (Jaeger) in the background (log: $(rel "$JAEGER_LOG"))"

# A background build as a stage of its own: its time is the wait, its failure is named.
waited() { # name pid log
	local t0
	t0=$(now_ms)
	if wait "$2"; then
		SUMMARY+=("$(printf ' ok    %-36s %8s (waited)' "$1" "$(elapsed_since "$t0")")")
		return 0
	fi
	tail -n 30 "$3" >&2
	SUMMARY+=("$(printf ' FAIL  %-36s see %s' "$1" "$(rel "$3")")")
	FAILED=1
	return 1
}

stage "lint (biome)" biome check .
stage "type-check (tsc, strict)" tsc -p tsconfig.json --noEmit
tests "unit tests" unit

INFRA_UP=0
if stage "infrastructure (Postgres, Kafka)" scripts/infra.sh up; then
	INFRA_UP=1
	tests "integration tests (Postgres, Kafka)" integration
	waited "trace viewer (Jaeger v2)" "$JAEGER_PID" "$JAEGER_LOG" || true
	tests "end-to-end (smoke, crash, chaos, bad input, trace)" e2e
	tests "API fuzzing (schemathesis, through the gateway)" fuzz
	stage "images (build, run the shop from them, smoke)" scripts/test-images.sh
else
	wait "$JAEGER_PID" || true
	blocked "integration tests" "the infrastructure did not start"
	blocked "end-to-end" "the infrastructure did not start"
	blocked "API fuzzing" "the infrastructure did not start"
	blocked "images" "the infrastructure did not start"
fi

printf '\n%s━━ waiting for the Kubernetes binaries%s\n' "$C_BLUE" "$C_RESET"
K8S_WAIT_START=$(now_ms)
if wait "$K8S_TOOLS_PID"; then
	SUMMARY+=("$(printf ' ok    %-36s %8s (waited)' 'Kubernetes binaries' "$(elapsed_since "$K8S_WAIT_START")")")
	# The cluster is stopped again at the end only if this run started it; then what the
	# real node added to the machine must be gone: its footprint is compared with the
	# one taken before anything of the cluster ran.
	if scripts/k8s.sh running; then K8S_STARTED_HERE=0; else K8S_STARTED_HERE=1; fi
	FOOTPRINT_BEFORE=$SHOP_LOG_DIR/node-footprint-before.txt
	FOOTPRINT_AFTER=$SHOP_LOG_DIR/node-footprint-after.txt
	if ((K8S_STARTED_HERE)); then scripts/k8s/node.sh footprint >"$FOOTPRINT_BEFORE" 2>/dev/null; fi
	if stage "Kubernetes cluster (control plane, kwok nodes, real node)" scripts/k8s.sh up; then
		if ((INFRA_UP)); then start_tests node; fi
		tests "Helm chart (lint, install, upgrades, helm test)" k8s
		tests "bluegreen CLI (cutovers on the control plane)" bluegreen
		if ((INFRA_UP)); then
			finish_tests "real node (the shop in pods, consumers, cutovers under load)" node
		else
			blocked "real node" "the infrastructure did not start"
		fi
		if ((K8S_STARTED_HERE)); then
			stage "k8s-down leaves the machine as before k8s-up" teardown_check
		else
			blocked "k8s-down leaves the machine as before" "the cluster ran before make test (make k8s-down, then make test, runs it)"
		fi
	else
		blocked "Helm chart" "the cluster did not start"
		blocked "bluegreen CLI" "the cluster did not start"
		blocked "real node" "the cluster did not start"
		if ((K8S_STARTED_HERE)); then scripts/k8s.sh down >/dev/null 2>&1 || true; fi
	fi
else
	tail -n 30 "$K8S_TOOLS_LOG" >&2
	SUMMARY+=("$(printf ' FAIL  %-36s see %s' 'Kubernetes binaries' "$(rel "$K8S_TOOLS_LOG")")")
	FAILED=1
	blocked "Helm chart" "the Kubernetes binaries did not build"
	blocked "bluegreen CLI" "the Kubernetes binaries did not build"
	blocked "real node" "the Kubernetes binaries did not build"
fi

stage "the work tree is as the run found it (git status)" tree_unchanged

printf '\n%s━━ summary%s (%s)\n' "$C_BLUE" "$C_RESET" "$(elapsed_since "$RUN_START")"
printf '%s\n' "${SUMMARY[@]}"
if ((${#FAILED_TESTS[@]})); then
	printf '\n%sfailed tests%s\n' "$C_BLUE" "$C_RESET"
	printf '%s\n' "${FAILED_TESTS[@]}"
fi
exit "$FAILED"
