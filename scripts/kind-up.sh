#!/usr/bin/env bash
# The whole shop on a local kind cluster, on a machine WITH Docker (`make up`,
# `make down`). It cannot run on the project's own machines (no Docker engine);
# there `make test-k8s` exercises the same chart against a real API server.
#
#   scripts/kind-up.sh up         check docker, kind, kubectl, helm, node (all problems
#                                 at once, before anything is created); create the kind
#                                 cluster if missing; build every image from the root
#                                 Dockerfile; kind load them; install the chart with
#                                 values-kind.yaml (both steps, --wait); run the smoke suite
#                                 (tools/smoke) from this machine against the gateway on the
#                                 mapped host port, then `helm test` (the same suite in a pod)
#   scripts/kind-up.sh down       delete the kind cluster
#   scripts/kind-up.sh bootstrap  only the chart's first step (infrastructure) if the
#                                 release does not exist yet (skaffold's before-deploy hook)
#
# Environment: SHOP_KIND_CLUSTER (shop), SHOP_NAMESPACE (shop), SHOP_RELEASE (shop),
# SHOP_IMAGE_TAG (the git short sha, -dirty with uncommitted changes),
# SHOP_BUILD_CA_FILE (a CA bundle for npm inside the build, behind a TLS proxy),
# SHOP_HELM_TIMEOUT (10m), SHOP_SKIP_HELM_TEST=1 (only the smoke run from this machine).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

CLUSTER=${SHOP_KIND_CLUSTER:-shop}
NAMESPACE=${SHOP_NAMESPACE:-shop}
RELEASE=${SHOP_RELEASE:-shop}
CONTEXT=kind-$CLUSTER
CHART=deploy/helm/shop
HELM_TIMEOUT=${SHOP_HELM_TIMEOUT:-10m}
# Dockerfile target = image shop-<target>. smoke is the helm test image (tools/smoke),
# load the load generator's (tools/load, deployed when load.enabled=true).
# shellcheck source=scripts/lib/system.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/system.sh"
TARGETS=("${SYSTEM_SERVICES[@]}" smoke load)
COLOR_SERVICES=("${SYSTEM_COLORED_SERVICES[@]}")
# The host port kind maps to the gateway's NodePort (deploy/kind/cluster.yaml).
HOST_PORT=$(sed -n 's/^ *hostPort: *\([0-9][0-9]*\).*/\1/p' deploy/kind/cluster.yaml | head -1)
HOST_PORT=${HOST_PORT:-8080}

log() { printf '\033[1m[kind-up]\033[0m %s\n' "$*" >&2; }
die() {
	printf '\033[31m[kind-up] %s\033[0m\n' "$*" >&2
	exit 1
}

image_tag() {
	if [[ -n ${SHOP_IMAGE_TAG:-} ]]; then
		echo "$SHOP_IMAGE_TAG"
		return
	fi
	local sha
	sha=$(git rev-parse --short HEAD 2>/dev/null || echo dev)
	if [[ -n $(git status --porcelain 2>/dev/null) ]]; then sha+=-dirty; fi
	echo "$sha"
}

# Every tool this needs, with its version. Every problem (missing, too old, the
# Docker engine not answering) is named at once, before anything is created.
check_tools() {
	# found_<tool>: the version seen (bash 3.2 compatible, so no associative array:
	# macOS still ships that bash). Set with printf -v, read with ${!name}.
	# shellcheck disable=SC2034
	local problems=() have version found_docker='' found_kind='' found_kubectl='' found_helm='' found_node='' found_npm=''
	# tool, oldest version (major.minor), where to get it
	local tools=(
		"docker|23.0|Docker Engine 23+ or Docker Desktop (BuildKit): https://docs.docker.com/engine/install/"
		"kind|0.24|go install sigs.k8s.io/kind@v0.27.0, or a release binary: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
		"kubectl|1.29|https://kubernetes.io/docs/tasks/tools/"
		"helm|3.14|https://helm.sh/docs/intro/install/"
		"node|24.11|Node.js 24 LTS (runs the smoke suite on this machine): https://nodejs.org/"
		"npm|11.0|comes with Node.js"
	)
	local entry tool min how
	for entry in "${tools[@]}"; do
		IFS='|' read -r tool min how <<<"$entry"
		if ! command -v "$tool" >/dev/null 2>&1; then
			problems+=("$tool is not installed ($min or newer): $how")
			continue
		fi
		version=$(tool_version "$tool")
		printf -v "found_$tool" '%s' "${version:-?}"
		if ! version_at_least "$version" "${min%%.*}" "${min#*.}"; then
			problems+=("$tool ${version:-(version unknown)} is too old: $min or newer is needed ($how)")
		fi
	done
	if [[ -n $found_docker ]]; then
		if have=$(docker version --format '{{.Server.Version}}' 2>/dev/null) && [[ -n $have ]]; then
			found_docker="client $found_docker, engine $have"
			if ! version_at_least "$have" 23 0; then
				problems+=("the Docker engine $have is too old: 23.0 or newer is needed (BuildKit, build secrets)")
			fi
		else
			problems+=("docker $found_docker is installed but no Docker engine answers: start Docker (or check DOCKER_HOST, the docker context and your access to the socket)")
		fi
	fi
	local seen
	for tool in docker kind kubectl helm node npm; do
		seen=found_$tool
		if [[ -n ${!seen} ]]; then log "$(printf '%-8s %s' "$tool" "${!seen}")"; fi
	done
	if ((${#problems[@]})); then
		printf '\033[31m[kind-up] cannot run make up:\033[0m\n' >&2
		printf '  - %s\n' "${problems[@]}" >&2
		printf 'deploy/helm/shop/README.md ("make up") lists what is needed.\n' >&2
		exit 1
	fi
}

# The version a tool reports, as x.y.z (empty if it says nothing we understand).
tool_version() {
	local out
	case $1 in
	docker) out=$(docker version --format '{{.Client.Version}}' 2>/dev/null || docker --version 2>/dev/null) ;;
	kind) out=$(kind version 2>/dev/null) ;;
	kubectl) out=$(kubectl version --client 2>/dev/null) ;;
	helm) out=$(helm version --template '{{.Version}}' 2>/dev/null) ;;
	node) out=$(node --version 2>/dev/null) ;;
	npm) out=$(npm --version 2>/dev/null) ;;
	esac
	grep -Eo '[0-9]+\.[0-9]+(\.[0-9]+)?' <<<"$out" | head -1 || true
}

# version_at_least v1.2.3 MAJOR MINOR
version_at_least() {
	local major minor
	major=$(sed -n 's/^v\{0,1\}\([0-9]*\)\.\([0-9]*\).*/\1/p' <<<"$1")
	minor=$(sed -n 's/^v\{0,1\}\([0-9]*\)\.\([0-9]*\).*/\2/p' <<<"$1")
	[[ -n $major && -n $minor ]] || return 1
	((major > $2 || (major == $2 && minor >= $3)))
}

cluster_exists() { kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; }

create_cluster() {
	if cluster_exists; then
		log "kind cluster $CLUSTER exists"
	else
		log "creating kind cluster $CLUSTER (deploy/kind/cluster.yaml)"
		kind create cluster --name "$CLUSTER" --config deploy/kind/cluster.yaml --wait 180s
	fi
	kubectl --context "$CONTEXT" get nodes >/dev/null || die "kubectl cannot reach the kind cluster (context $CONTEXT)"
}

build_images() {
	local tag=$1 target secret=()
	local ca=${SHOP_BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-}}
	if [[ -n $ca && -s $ca ]]; then secret=(--secret "id=extra_ca_certs,src=$ca"); fi
	for target in "${TARGETS[@]}"; do
		if ! grep -Eq "^FROM .* AS $target\$" Dockerfile; then
			die "the Dockerfile has no target '$target' (image shop-$target); see docs/images.md"
		fi
		log "building shop-$target:$tag (target $target)"
		DOCKER_BUILDKIT=1 docker build ${secret[@]+"${secret[@]}"} --target "$target" -t "shop-$target:$tag" .
	done
	local images=()
	for target in "${TARGETS[@]}"; do images+=("shop-$target:$tag"); done
	log "loading ${#images[@]} images into kind cluster $CLUSTER"
	kind load docker-image --name "$CLUSTER" "${images[@]}"
}

# The chart's first install with its own Postgres and Kafka creates only them
# (its migrations are pre-install hooks and need the database): step 1 of 2.
bootstrap() {
	local values=()
	if [[ ${SKAFFOLD_KUBE_CONTEXT:-$CONTEXT} == kind-* ]]; then values=(-f "$CHART/values-kind.yaml"); fi
	local context=${SKAFFOLD_KUBE_CONTEXT:-$CONTEXT}
	if helm --kube-context "$context" status "$RELEASE" -n "$NAMESPACE" >/dev/null 2>&1; then
		log "release $RELEASE exists; nothing to bootstrap"
		return
	fi
	log "installing the infrastructure of $RELEASE (step 1 of 2)"
	helm upgrade --install "$RELEASE" "$CHART" --kube-context "$context" -n "$NAMESPACE" --create-namespace \
		${values[@]+"${values[@]}"} --wait --timeout "$HELM_TIMEOUT" >/dev/null
}

install_chart() {
	local tag=$1 sets=() service out
	# A development loop: what was just built runs in both colors (explicit
	# values override what the live Deployments have). Blue-green itself is
	# exercised with `bluegreen deploy`, not here.
	for service in "${COLOR_SERVICES[@]}"; do
		sets+=(--set "services.$service.colors.blue.image=shop-$service:$tag")
		sets+=(--set "services.$service.colors.green.image=shop-$service:$tag")
	done
	local args=(--kube-context "$CONTEXT" --namespace "$NAMESPACE" --create-namespace -f "$CHART/values-kind.yaml")
	log "helm upgrade --install $RELEASE (image tag $tag)"
	out=$(helm upgrade --install "$RELEASE" "$CHART" "${args[@]}" --set "image.tag=$tag" "${sets[@]}" \
		--wait --timeout "$HELM_TIMEOUT")
	if grep -q 'Step 1 of 2 done' <<<"$out"; then
		log "infrastructure is up; installing the services (step 2 of 2)"
		out=$(helm upgrade --install "$RELEASE" "$CHART" "${args[@]}" --set "image.tag=$tag" "${sets[@]}" \
			--wait --timeout "$HELM_TIMEOUT")
	fi
	printf '%s\n' "$out"
}

# The smoke suite (tools/smoke) from this machine through the mapped host port:
# what a developer's browser or curl reaches. Signs in as the seeded admin.
run_smoke() {
	local url=http://127.0.0.1:$HOST_PORT email password i
	if [[ ! -x node_modules/.bin/tsx ]]; then
		log "installing the npm dependencies (npm ci) for the smoke suite"
		npm ci --no-audit --no-fund
	fi
	log "waiting for the gateway at $url"
	for i in $(seq 1 60); do
		if node -e "fetch('$url/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then break; fi
		if ((i == 60)); then die "the gateway does not answer at $url/health/ready (deploy/kind/cluster.yaml maps host port $HOST_PORT to NodePort 30080)"; fi
		sleep 2
	done
	email=$(kubectl --context "$CONTEXT" -n "$NAMESPACE" get secret "$RELEASE-admin" -o jsonpath='{.data.email}' | base64 --decode)
	password=$(kubectl --context "$CONTEXT" -n "$NAMESPACE" get secret "$RELEASE-admin" -o jsonpath='{.data.password}' | base64 --decode)
	log "smoke suite against $url"
	SMOKE_BASE_URL=$url SMOKE_ADMIN_EMAIL=$email SMOKE_ADMIN_PASSWORD=$password \
		node --conditions=source --import tsx tools/smoke/src/run.ts
}

cmd_up() {
	check_tools
	create_cluster
	local tag
	tag=$(image_tag)
	build_images "$tag"
	install_chart "$tag"
	run_smoke
	if [[ ${SHOP_SKIP_HELM_TEST:-0} != 1 ]]; then
		log "helm test $RELEASE (the smoke suite in a pod, as any cluster would run it)"
		helm test "$RELEASE" --kube-context "$CONTEXT" -n "$NAMESPACE" --logs --timeout "$HELM_TIMEOUT"
	fi
	log "up: the gateway is http://localhost:$HOST_PORT (API under /api/v1, docs at /docs)"
	log "traces: kubectl --context $CONTEXT -n $NAMESPACE port-forward svc/$RELEASE-jaeger 16686, then http://127.0.0.1:16686"
}

cmd_down() {
	command -v kind >/dev/null || die "kind is not installed (nothing to delete)"
	if cluster_exists; then
		kind delete cluster --name "$CLUSTER"
	else
		log "no kind cluster $CLUSTER"
	fi
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
bootstrap)
	command -v helm >/dev/null || die "helm is not installed"
	bootstrap
	;;
*)
	sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
