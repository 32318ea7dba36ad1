#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy into
# $SHOP_CACHE_DIR/k8s/<component>-<version>/, then writes
# $SHOP_CACHE_DIR/k8s/versions.env (versions + absolute paths) for the other
# scripts. Idempotent: a component whose directory carries a `.built` stamp for
# the current recipe is skipped, so a warm run takes well under a second and a
# version bump in versions.env rebuilds only that component.
#
# Why from source: the machine reaches the Go module proxy but no release
# download site, and Debian's etcd (3.4) and kubectl (1.20) are far too old.
set -euo pipefail
# shellcheck source=scripts/k8s/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/lib/go.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/go.sh"

# Bump when the way a component is built changes (flags, layout), so caches
# built the old way are rebuilt even though the version did not change.
K8S_BUILD_RECIPE=1

go_env

# Flags shared by every build. -trimpath and -p 2 match the 2-core machines;
# -dwarf=false skips generating debug info in every compiled package (nobody
# debugs these binaries; -ldflags -s -w would strip it at link time anyway).
GO_BUILD_FLAGS=(-trimpath -p "${SHOP_GO_BUILD_JOBS:-2}" -gcflags=all=-dwarf=false)

BUILD_LOG_DIR=$K8S_CACHE_DIR/logs
TIMES_LOG=$K8S_CACHE_DIR/build-times.log

# build_component NAME VERSION RECIPE: run RECIPE OUTDIR in the background into a
# scratch directory, report progress every minute, then move the result into
# place atomically so an interrupted build never looks complete.
build_component() {
	local name=$1 version=$2 recipe=$3
	local dir=$K8S_CACHE_DIR/$name-$version
	local stamp="recipe=$K8S_BUILD_RECIPE"
	if [[ -f $dir/.built && "$(head -n1 "$dir/.built")" == "$stamp" ]]; then
		k8s_log "$name $version: cached ($dir)"
		return 0
	fi
	local tmp=$dir.partial log=$BUILD_LOG_DIR/$name-$version.log
	rm -rf "$tmp"
	mkdir -p "$tmp" "$BUILD_LOG_DIR"
	k8s_log "$name $version: building (log: $log)"
	local start=$SECONDS
	# `times` at the end logs the CPU time the build used: on a busy machine
	# that is a steadier measure than the wall clock.
	(
		"$recipe" "$tmp" "$version"
		times
	) >"$log" 2>&1 &
	local pid=$!
	# A cold build runs for many minutes: say it is alive, without flooding.
	local next=60
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		if ((SECONDS - start >= next)); then
			k8s_log "$name $version: still building, $(k8s_duration $((SECONDS - start))) so far; last: $(tail -n1 "$log" | cut -c1-100)"
			next=$((next + 60))
		fi
	done
	if ! wait "$pid"; then
		tail -n 30 "$log" >&2
		k8s_die "$name $version: build failed after $(k8s_duration $((SECONDS - start))) (full log: $log)"
	fi
	local took=$((SECONDS - start)) cpu
	# The last line of `times` is the children's user and system time.
	cpu=$(tail -n1 "$log" | awk '{ t = 0; for (i = 1; i <= NF; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] }; printf "%d", t }')
	printf '%s\nbuilt %s in %ss (cpu %ss)\n' "$stamp" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$took" "$cpu" >"$tmp/.built"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	printf '%s %s %s wall=%ss cpu=%ss\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" "$version" "$took" "$cpu" >>"$TIMES_LOG"
	k8s_log "$name $version: built in $(k8s_duration "$took") (cpu $(k8s_duration "$cpu"))"
}

# Prints a timestamped phase marker into the component's log.
phase() { printf '=== %s %s\n' "$(date +%H:%M:%S)" "$*"; }

# k8s.io/kubernetes cannot be `go install`ed: its go.mod requires every staging
# module (k8s.io/api, client-go, ...) at v0.0.0 and replaces them with
# ./staging paths, and replaces only count in the main module. So a throw-away
# main module requires k8s.io/kubernetes and replaces each staging module with
# its published tag (v1.X.Y -> v0.X.Y). The staging list comes from k/k's own
# go.mod as served by the proxy, so a new staging module needs no edit here.
#
# kubernetes_build OUT VERSION WORKNAME CMD...: builds k8s.io/kubernetes/cmd/CMD
# for each CMD in one `go build` (they share most packages, compiled once).
kubernetes_build() {
	local out=$1 version=$2 workname=$3
	shift 3
	local staging_version="v0.${version#v1.}"
	local minor=${version#v1.}
	minor=${minor%%.*}
	local work=$K8S_CACHE_DIR/work/$workname
	rm -rf "$work"
	mkdir -p "$work"
	cd "$work"

	phase "resolve modules"
	local gomod
	gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	local staging
	staging=$(sed -n 's|^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/.*|\1|p' "$gomod")
	[[ -n $staging ]] || {
		echo "no staging modules parsed from $gomod"
		return 1
	}
	# The same go/godebug lines as k/k: only the main module's count.
	local godirective
	godirective=$(sed -n 's/^go \(.*\)$/\1/p' "$gomod")
	printf 'module shop.local/k8s-build\n\ngo %s\n\ngodebug default=go%s\n' "$godirective" "${godirective%.*}" >go.mod
	local m edits=()
	for m in $staging; do edits+=("-replace=$m=$m@$staging_version"); done
	go mod edit "${edits[@]}" "-require=k8s.io/kubernetes@$version"
	local cmd packages=()
	{
		printf '//go:build tools\n\npackage tools\n\nimport (\n'
		for cmd in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$cmd"; done
		printf ')\n'
	} >tools.go
	for cmd in "$@"; do packages+=("k8s.io/kubernetes/cmd/$cmd"); done
	go mod tidy
	phase "download modules"
	go mod download

	# Without these -X flags every binary reports v0.0.0-master+$Format:%H$,
	# which breaks Helm's kubeVersion checks and kubectl's version skew logic.
	local ldflags="-s -w" p
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
		ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	done
	# Tags as in upstream release builds (hack/lib/golang.sh).
	phase "compile"
	go build "${GO_BUILD_FLAGS[@]}" -tags selinux,notest,grpcnotrace -ldflags "$ldflags" -o "$out/" "${packages[@]}"
	phase "done"
}

# The control plane and kubectl.
recipe_kubernetes() {
	kubernetes_build "$1" "$2" "kubernetes-$2" kube-apiserver kube-controller-manager kube-scheduler kubectl
	"$1/kube-apiserver" --version
	"$1/kubectl" version --client
}

# The real node's kubelet and kube-proxy: a component of its own, so the
# control plane's cached build stays valid; the Go build cache makes this one
# compile only what the node adds (about 6 CPU-minutes after the control plane).
recipe_kubernetes_node() {
	kubernetes_build "$1" "$2" "kubernetes-node-$2" kubelet kube-proxy
	"$1/kubelet" --version
	"$1/kube-proxy" --version
}

# etcd's server module also carries replace directives (../api, ...), so the
# same throw-away-module trick; its requires use real versions, so no replaces
# are needed here. Kept apart from the k8s module so MVS cannot move shared
# dependencies (grpc, otel) of either.
recipe_etcd() {
	local out=$1 version=$2
	local work=$K8S_CACHE_DIR/work/etcd-$version
	rm -rf "$work"
	mkdir -p "$work"
	cd "$work"
	phase "resolve modules"
	printf 'module shop.local/etcd-build\n\ngo 1.26.0\n' >go.mod
	printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
	go mod edit "-require=go.etcd.io/etcd/server/v3@$version"
	go mod tidy
	go mod download
	phase "compile"
	go build "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$version" \
		-o "$out/etcd" go.etcd.io/etcd/server/v3
	phase "done"
	"$out/etcd" --version
}

# kwok has no replace directives: plain `go install`. Only the controller
# (cmd/kwok); kwokctl is not used (scripts/k8s/cluster.sh orchestrates). The
# stage YAMLs ship in the module; copy the ones cluster.sh loads (node stages,
# pod-delete) and the two that stages/pod-behaviors.yaml is derived from
# (pod-ready, pod-complete, for comparison after a kwok bump) next to the
# binary, so the control plane does not depend on the module cache.
recipe_kwok() {
	local out=$1 version=$2
	phase "compile"
	GOBIN=$out go install "${GO_BUILD_FLAGS[@]}" \
		-ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${version#v}" \
		"sigs.k8s.io/kwok/cmd/kwok@$version"
	local src=$GOMODCACHE/sigs.k8s.io/kwok@$version/kustomize/stage
	mkdir -p "$out/stages"
	cp "$src/node/fast/node-initialize.yaml" \
		"$src/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
		"$src/pod/fast/pod-ready.yaml" "$src/pod/fast/pod-complete.yaml" "$src/pod/fast/pod-delete.yaml" \
		"$out/stages/"
	phase "done"
	"$out/kwok" --version
}

# Helm 3 hard-codes Kubernetes v1.20 as the version `helm template`/`lint` assume
# offline; its Makefile overrides that with -X from the client-go it links.
recipe_helm() {
	local out=$1 version=$2
	phase "resolve modules"
	local gomod client_go minor
	gomod=$(cd / && go mod download -json "helm.sh/helm/v3@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	client_go=$(sed -n 's/^[[:space:]]*k8s\.io\/client-go \(v[0-9.]*\).*/\1/p' "$gomod")
	minor=$(cut -d. -f2 <<<"$client_go")
	[[ -n $minor ]] || {
		echo "no k8s.io/client-go version found in $gomod"
		return 1
	}
	local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
	local p
	for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
		ldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
	done
	phase "compile"
	GOBIN=$out go install "${GO_BUILD_FLAGS[@]}" -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version"
	phase "done"
	"$out/helm" version
}

recipe_kube_score() {
	local out=$1 version=$2
	phase "compile"
	GOBIN=$out go install "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w -X main.version=${version#v}" \
		"github.com/zegl/kube-score/cmd/kube-score@$version"
	phase "done"
	"$out/kube-score" version
}

# containerd 2 with its CLI (ctr: image import) and the runc shim. CGO off and
# the snapshotters this node does not use left out (their C libraries are not
# here); overlayfs is the one it uses.
recipe_containerd() {
	local out=$1 version=$2 cmd
	phase "compile"
	for cmd in containerd ctr containerd-shim-runc-v2; do
		GOBIN=$out go install "${GO_BUILD_FLAGS[@]}" -tags no_btrfs,no_devmapper,no_zfs,no_aufs \
			-ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$version" \
			"github.com/containerd/containerd/v2/cmd/$cmd@$version"
	done
	phase "done"
	"$out/containerd" --version
}

# Components built from a source file here are keyed by it too, so an edit rebuilds them.
source_key() { sha256sum "$K8S_SCRIPTS_DIR/$1/main.go" | cut -c1-10; }
coredns_key() { printf '%s-%s' "$COREDNS_VERSION" "$(source_key coredns)"; }
pause_key() { source_key pause; }

# CoreDNS from scripts/k8s/coredns/main.go (only the plugins it serves with)
# in a throw-away module that requires the pinned CoreDNS.
recipe_coredns() {
	local out=$1 version=${2%-*}
	local work=$K8S_CACHE_DIR/work/coredns-$version
	rm -rf "$work"
	mkdir -p "$work"
	cd "$work"
	phase "resolve modules"
	printf 'module shop.local/coredns\n\ngo 1.26.0\n' >go.mod
	cp "$K8S_SCRIPTS_DIR/coredns/main.go" .
	go mod edit "-require=github.com/coredns/coredns@$version"
	go mod tidy
	phase "compile"
	go build "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$version" -o "$out/coredns" .
	phase "done"
	"$out/coredns" -version
}

# The pod sandbox process (scripts/k8s/pause/main.go), keyed by its source.
recipe_pause() {
	local out=$1
	local work=$K8S_CACHE_DIR/work/pause
	rm -rf "$work"
	mkdir -p "$work"
	cd "$work"
	printf 'module shop.local/pause\n\ngo 1.26.0\n' >go.mod
	cp "$K8S_SCRIPTS_DIR/pause/main.go" .
	phase "compile"
	go build "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w" -o "$out/pause" .
	phase "done"
}

# Writes $K8S_TOOLS_ENV (sourced by cluster.sh, smoke.sh and the test setup) and
# a bin/ of symlinks that can go on PATH.
write_tools_env() {
	local k8s=$K8S_CACHE_DIR/kubernetes-$K8S_VERSION node=$K8S_CACHE_DIR/kubernetes-node-$K8S_VERSION
	local tmp=$K8S_TOOLS_ENV.tmp
	cat >"$tmp" <<-EOF
		# Written by scripts/k8s.sh tools; do not edit (pins: scripts/k8s/versions.env).
		K8S_VERSION=$K8S_VERSION
		ETCD_VERSION=$ETCD_VERSION
		KWOK_VERSION=$KWOK_VERSION
		HELM_VERSION=$HELM_VERSION
		KUBE_SCORE_VERSION=$KUBE_SCORE_VERSION
		CONTAINERD_VERSION=$CONTAINERD_VERSION
		COREDNS_VERSION=$COREDNS_VERSION
		K8S_BIN_DIR=$K8S_CACHE_DIR/bin
		KUBE_APISERVER=$k8s/kube-apiserver
		KUBE_CONTROLLER_MANAGER=$k8s/kube-controller-manager
		KUBE_SCHEDULER=$k8s/kube-scheduler
		KUBECTL=$k8s/kubectl
		ETCD=$K8S_CACHE_DIR/etcd-$ETCD_VERSION/etcd
		KWOK=$K8S_CACHE_DIR/kwok-$KWOK_VERSION/kwok
		KWOK_STAGES_DIR=$K8S_CACHE_DIR/kwok-$KWOK_VERSION/stages
		HELM=$K8S_CACHE_DIR/helm-$HELM_VERSION/helm
		KUBE_SCORE=$K8S_CACHE_DIR/kube-score-$KUBE_SCORE_VERSION/kube-score
		KUBELET=$node/kubelet
		KUBE_PROXY=$node/kube-proxy
		CONTAINERD=$K8S_CACHE_DIR/containerd-$CONTAINERD_VERSION/containerd
		CTR=$K8S_CACHE_DIR/containerd-$CONTAINERD_VERSION/ctr
		CONTAINERD_SHIM=$K8S_CACHE_DIR/containerd-$CONTAINERD_VERSION/containerd-shim-runc-v2
		COREDNS=$K8S_CACHE_DIR/coredns-$(coredns_key)/coredns
		PAUSE=$K8S_CACHE_DIR/pause-$(pause_key)/pause
	EOF
	mv "$tmp" "$K8S_TOOLS_ENV"
	# shellcheck source=/dev/null
	source "$K8S_TOOLS_ENV"
	# shellcheck disable=SC2153 # K8S_BIN_DIR comes from the versions.env just sourced
	mkdir -p "$K8S_BIN_DIR"
	local b
	for b in "$KUBE_APISERVER" "$KUBE_CONTROLLER_MANAGER" "$KUBE_SCHEDULER" "$KUBECTL" "$ETCD" "$KWOK" "$HELM" "$KUBE_SCORE" \
		"$KUBELET" "$KUBE_PROXY" "$CONTAINERD" "$CTR" "$CONTAINERD_SHIM" "$COREDNS" "$PAUSE"; do
		[[ -x $b ]] || k8s_die "missing after build: $b"
		ln -sfn "$b" "$K8S_BIN_DIR/$(basename "$b")"
	done
}

main() {
	command -v go >/dev/null || k8s_die "go is not installed (Go 1.26 is needed to build the Kubernetes binaries)"
	mkdir -p "$K8S_CACHE_DIR"
	# Two concurrent `make k8s-up` would otherwise build into the same dirs.
	exec 9>"$K8S_CACHE_DIR/.build.lock"
	if ! flock -n 9; then
		k8s_log "another build holds $K8S_CACHE_DIR/.build.lock; waiting"
		flock 9
	fi
	local start=$SECONDS
	# Smallest first: the fast ones are usable (and failures show) early.
	build_component etcd "$ETCD_VERSION" recipe_etcd
	build_component kwok "$KWOK_VERSION" recipe_kwok
	build_component helm "$HELM_VERSION" recipe_helm
	build_component kube-score "$KUBE_SCORE_VERSION" recipe_kube_score
	build_component kubernetes "$K8S_VERSION" recipe_kubernetes
	# The real node's: after the control plane, whose Go build cache they reuse.
	build_component kubernetes-node "$K8S_VERSION" recipe_kubernetes_node
	build_component containerd "$CONTAINERD_VERSION" recipe_containerd
	build_component coredns "$(coredns_key)" recipe_coredns
	build_component pause "$(pause_key)" recipe_pause
	write_tools_env
	k8s_log "tools ready in $(k8s_duration $((SECONDS - start))); source $K8S_TOOLS_ENV or add $K8S_BIN_DIR to PATH"
}

main "$@"
