# shellcheck shell=bash
# The Go settings of the project's builds from the Go module proxy (scripts/jaeger.sh,
# scripts/vegeta.sh): caches under SHOP_CACHE_DIR, the machine's own Go, static binaries.
go_env() {
	export GOMODCACHE=${SHOP_GOMODCACHE:-$SHOP_CACHE_DIR/go/mod}
	export GOCACHE=${SHOP_GOCACHE:-$SHOP_CACHE_DIR/go/build}
	export GOTOOLCHAIN=local
	export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw"
	export CGO_ENABLED=0
	# Only the proxy: `,direct` would clone from origin hosts, unreachable here.
	if [[ "$(go env GOPROXY)" == "https://proxy.golang.org,direct" ]]; then
		export GOPROXY=https://proxy.golang.org
	fi
}
