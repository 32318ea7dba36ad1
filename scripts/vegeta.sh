#!/usr/bin/env bash
# vegeta, the constant-rate HTTP load generator of the gateway benchmark's
# latency run (an open model: requests start on schedule whatever the server
# does, unlike autocannon's --overallRate, which sends each second's quota as
# fast as it can and then waits), built from the Go module proxy.
#
#   scripts/vegeta.sh   build (or find cached) vegeta; prints the binary's path
#
# Cached in ${SHOP_CACHE_DIR:-~/.cache/shop}/vegeta/<version>/: about 30 s the
# first time on 2 cores, a moment after that.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/go.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go.sh"

VEGETA_VERSION=v12.12.0
VEGETA_DIR=$SHOP_CACHE_DIR/vegeta/$VEGETA_VERSION

if [[ ! -x $VEGETA_DIR/vegeta ]]; then
	command -v go >/dev/null || die "Go is needed to build vegeta (the machines have Go 1.26)"
	go_env
	mkdir -p "$SHOP_CACHE_DIR/vegeta"
	exec 7>"$SHOP_CACHE_DIR/vegeta/.build.lock"
	flock -w 600 7 || die "another vegeta build held $SHOP_CACHE_DIR/vegeta/.build.lock for 10 minutes"
	if [[ ! -x $VEGETA_DIR/vegeta ]]; then
		log=$SHOP_CACHE_DIR/vegeta/build.log
		log_info "building vegeta $VEGETA_VERSION from the Go module proxy (log: $log)" >&2
		rm -rf "$VEGETA_DIR.partial"
		if ! GOBIN=$VEGETA_DIR.partial go install -trimpath -ldflags "-s -w" \
			"github.com/tsenart/vegeta/v12@$VEGETA_VERSION" >"$log" 2>&1; then
			tail -n 30 "$log" >&2
			die "the vegeta build failed (full log: $log)"
		fi
		mv "$VEGETA_DIR.partial" "$VEGETA_DIR"
	fi
	exec 7>&-
fi
printf '%s\n' "$VEGETA_DIR/vegeta"
