#!/usr/bin/env bash
# The trace viewer of `make dev` and the end-to-end tests: Jaeger v2 built from
# the Go module proxy, with the Jaeger UI beside it.
#
#   scripts/jaeger.sh build   build (or find cached) Jaeger and its UI; prints where
#   scripts/jaeger.sh env     print JAEGER_BIN, JAEGER_UI_ASSETS, JAEGER_CONFIG (after build)
#
# Cached in ${SHOP_CACHE_DIR:-~/.cache/shop}/jaeger/<version>/ like the
# Kubernetes binaries: a cold build takes several minutes on 2 cores, a warm
# call well under a second. The processes are started by packages/stack (make
# dev, the end-to-end tests) with the configuration the chart also uses,
# deploy/helm/shop/files/jaeger.yaml.
#
# Why from source: the machine reaches the Go module proxy but no release
# download site. The module does not carry the UI (upstream builds it from
# another repository with npm and embeds it at release time), so the UI comes
# from the Go module github.com/tonistiigi/jaeger-ui-rest, which ships a build
# of the official Jaeger UI (gzipped) for `docker buildx history trace`; it is
# unpacked next to the binary and served with jaeger_query's ui.assets_path.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/go.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go.sh"

# github.com/jaegertracing/jaeger v1.N.0 is Jaeger v2.(N-63).0: both are cut from
# one commit, and cmd/jaeger is the v2 binary. Keep deploy/helm/shop/values.yaml
# (jaeger.image) on the same release.
JAEGER_MODULE_VERSION=v1.75.0
JAEGER_RELEASE=2.12.0
# The official Jaeger UI v1.68.0, built and gzipped (its Dockerfile names the tag).
JAEGER_UI_MODULE=github.com/tonistiigi/jaeger-ui-rest
JAEGER_UI_MODULE_VERSION=v0.0.0-20250408171107-3dd17559e117
# Bump when the way it is built changes, so caches built the old way are redone.
JAEGER_RECIPE=1

JAEGER_DIR=$SHOP_CACHE_DIR/jaeger/$JAEGER_RELEASE-r$JAEGER_RECIPE
JAEGER_CONFIG=$SHOP_ROOT/deploy/helm/shop/files/jaeger.yaml

# A throw-away main module requiring Jaeger: `go install pkg@version` refuses a
# module whose go.mod has replace directives, and Jaeger's has one, which is
# copied here so the build resolves the way upstream's does.
build_jaeger() {
	local out=$1 work=$2
	mkdir -p "$work"
	cd "$work"
	local gomod godirective replaces
	gomod=$(go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	godirective=$(sed -n 's/^go \(.*\)$/\1/p' "$gomod")
	printf 'module shop.local/jaeger-build\n\ngo %s\n' "$godirective" >go.mod
	replaces=$(sed -n 's/^replace \([^ ]*\) => \([^ ]*\) \(v[^ ]*\)$/-replace=\1=\2@\3/p' "$gomod")
	# shellcheck disable=SC2086 # one flag per line
	go mod edit $replaces "-require=github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION"
	printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/jaegertracing/jaeger/cmd/jaeger"\n' >tools.go
	go mod tidy
	local v=github.com/jaegertracing/jaeger/internal/version
	go build -trimpath -p "${SHOP_GO_BUILD_JOBS:-2}" -gcflags=all=-dwarf=false \
		-ldflags "-s -w -X $v.latestVersion=v$JAEGER_RELEASE -X $v.commitSHA=$JAEGER_MODULE_VERSION -X $v.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		-o "$out/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
	"$out/jaeger" version >/dev/null
}

# The module ships every file of the UI's build gzipped under its own name;
# jaeger_query serves an assets directory as it is, so they are unpacked.
unpack_ui() {
	local out=$1 dir file
	dir=$(go mod download -json "$JAEGER_UI_MODULE@$JAEGER_UI_MODULE_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[[ -f $dir/public/index.html ]] || die "$JAEGER_UI_MODULE@$JAEGER_UI_MODULE_VERSION has no public/index.html"
	while IFS= read -r file; do
		mkdir -p "$out/ui/$(dirname "$file")"
		gzip -dc "$dir/public/$file" >"$out/ui/$file"
	done < <(cd "$dir/public" && find . -type f | sed 's|^\./||')
	cp "$dir/LICENSE" "$out/ui/LICENSE.jaeger-ui-rest"
	grep -q '<div id="jaeger-ui-root"' "$out/ui/index.html" || die "the unpacked UI's index.html is not the Jaeger UI's"
}

cmd_build() {
	if [[ -x $JAEGER_DIR/jaeger && -f $JAEGER_DIR/ui/index.html ]]; then
		log_dim "jaeger $JAEGER_RELEASE: cached ($JAEGER_DIR)"
		return 0
	fi
	command -v go >/dev/null || die "Go is needed to build Jaeger (the machines have Go 1.26)"
	go_env
	mkdir -p "$SHOP_CACHE_DIR/jaeger"
	# One build at a time per cache; the directory appears whole or not at all.
	exec 7>"$SHOP_CACHE_DIR/jaeger/.build.lock"
	flock -w 3600 7 || die "another Jaeger build held $SHOP_CACHE_DIR/jaeger/.build.lock for an hour"
	if [[ -x $JAEGER_DIR/jaeger && -f $JAEGER_DIR/ui/index.html ]]; then
		return 0
	fi
	local tmp=$JAEGER_DIR.partial work=$SHOP_CACHE_DIR/jaeger/work log=$SHOP_CACHE_DIR/jaeger/build.log t0
	rm -rf "$tmp" "$work"
	mkdir -p "$tmp"
	t0=$(now_ms)
	log_info "building Jaeger $JAEGER_RELEASE (github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION) from the Go module proxy; several minutes the first time (log: $log)"
	if ! (build_jaeger "$tmp" "$work" && unpack_ui "$tmp") >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "the Jaeger build failed (full log: $log)"
	fi
	rm -rf "$JAEGER_DIR" "$work"
	mv "$tmp" "$JAEGER_DIR"
	exec 7>&-
	log_ok "Jaeger $JAEGER_RELEASE and its UI in $(elapsed_since "$t0") ($JAEGER_DIR)"
}

cmd_env() {
	[[ -x $JAEGER_DIR/jaeger ]] || die "Jaeger is not built yet: scripts/jaeger.sh build"
	printf 'JAEGER_BIN=%s\nJAEGER_UI_ASSETS=%s\nJAEGER_CONFIG=%s\n' "$JAEGER_DIR/jaeger" "$JAEGER_DIR/ui" "$JAEGER_CONFIG"
}

case "${1:-}" in
build) cmd_build ;;
env) cmd_env ;;
*)
	sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
