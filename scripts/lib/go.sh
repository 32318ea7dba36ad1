# shellcheck shell=bash
# The Go settings of every build from the Go module proxy (scripts/k8s/build.sh,
# scripts/jaeger.sh, scripts/vegeta.sh).
go_env() {
	# The Go caches live beside the binaries: a second build (a version bump, a
	# wiped component) reuses compiled packages and downloaded modules, and nothing
	# is written to the user's own ~/go or ~/.cache/go-build.
	export GOMODCACHE=${SHOP_GOMODCACHE:-$SHOP_CACHE_DIR/go/mod}
	export GOCACHE=${SHOP_GOCACHE:-$SHOP_CACHE_DIR/go/build}
	# Fail fast on a too-new go directive instead of fetching another toolchain.
	export GOTOOLCHAIN=local
	# A writable module cache, so `rm -rf $SHOP_CACHE_DIR` works without root.
	export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw"
	# Static binaries, no gcc involved; what upstream does for all of these.
	export CGO_ENABLED=0
	# Only the proxy: its default `,direct` fallback would clone from the origin
	# hosts, which are unreachable here (and not ours to contact).
	if [[ "$(go env GOPROXY)" == "https://proxy.golang.org,direct" ]]; then
		export GOPROXY=https://proxy.golang.org
	fi
}
