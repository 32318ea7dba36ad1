#!/usr/bin/env bash
# Build and run the services' OCI images with buildah and podman (no Docker
# engine needed), behind `make images-base` and `make images`.
#
#   scripts/images.sh tools                 install podman, buildah, runc, debootstrap (idempotent)
#   scripts/images.sh base [--rebuild]      build or import the local base image (cached; seconds when warm)
#   scripts/images.sh build [--no-cache] [target...]   build localhost/shop-<target>:<tag> from the Dockerfile (default: every service and tool with a target);
#                                           --no-cache: no cached layer is reused (the first target rebuilds every stage, the rest reuse those)
#   scripts/images.sh run <service> [podman run args...]   start shop-<service> detached, host network, read-only root
#   scripts/images.sh stop [service...]     stop containers started by `run` (SIGTERM, then their exit code)
#   scripts/images.sh logs <service>        the container's output
#   scripts/images.sh list                  the images and containers of this project, with sizes
#   scripts/images.sh tag                   print the tag `build` would use now
#   scripts/images.sh prune                 delete dangling images (old build layers); the next build may redo steps
#
# Environment: SHOP_IMAGE_TAG (default: git short sha, with -dirty when the
# tree has changes), SHOP_IMAGES_CONTEXT (build context with the Dockerfile,
# default: the checkout), SHOP_NODE_VERSION, SHOP_CACHE_DIR. docs/images.md
# explains the design and what was verified.
set -euo pipefail

# shellcheck source=scripts/lib/containers.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/containers.sh"

CONTEXT="${SHOP_IMAGES_CONTEXT:-$SHOP_ROOT}"
CONTEXT="$(cd "$CONTEXT" && pwd)"
MANAGED_LABEL="org.shop.managed-by=scripts/images.sh"

usage() {
	sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

image_tag() {
	if [[ -n "${SHOP_IMAGE_TAG:-}" ]]; then
		printf '%s' "$SHOP_IMAGE_TAG"
		return
	fi
	local sha
	sha=$(git -C "$CONTEXT" rev-parse --short HEAD 2>/dev/null) || {
		printf 'dev'
		return
	}
	if [[ -n "$(git -C "$CONTEXT" status --porcelain 2>/dev/null | head -n1)" ]]; then
		sha="$sha-dirty"
	fi
	printf '%s' "$sha"
}

# The deployables that have a final stage in the Dockerfile: `FROM ... AS
# <name>` where services/<name>/ or tools/<name>/ exists (tools/smoke is the
# Helm test image), in the Dockerfile's order.
dockerfile_services() {
	local name
	grep -ioE '^FROM[[:space:]]+[^[:space:]]+[[:space:]]+AS[[:space:]]+[a-z0-9-]+' "$CONTEXT/Dockerfile" | awk '{print $4}' |
		while read -r name; do
			if [[ -d "$CONTEXT/services/$name" || -d "$CONTEXT/tools/$name" ]]; then
				printf '%s\n' "$name"
			fi
		done
	return 0
}

cmd_tools() {
	containers_tools_install
	log_ok "podman $(podman --version | awk '{print $3}'), buildah $(buildah --version | awk '{print $3}'), $(runc --version | head -n1)"
}

cmd_base() {
	local rebuild=
	[[ "${1:-}" == --rebuild ]] && rebuild=1
	containers_require_root
	containers_tools_install
	mkdir -p "$SHOP_IMAGES_CACHE"
	# One base build at a time on a machine (they share the cache directory).
	exec 9>"$SHOP_IMAGES_CACHE/.base.lock"
	flock 9
	base_ensure "$rebuild"
	exec 9>&-
}

cmd_build() {
	containers_require_root
	local no_cache=
	if [[ "${1:-}" == --no-cache ]]; then
		no_cache=1
		shift
	fi
	local services=("$@") tag base svc start total ca_args=() cache_args=()
	[[ -f "$CONTEXT/Dockerfile" ]] || die "no Dockerfile in $CONTEXT"
	if ((${#services[@]} == 0)); then
		mapfile -t services < <(dockerfile_services)
		((${#services[@]} > 0)) || die "the Dockerfile has no service targets yet (a service is a 'FROM runtime AS <name>' block whose services/<name>/ exists)"
	fi
	for svc in "${services[@]}"; do
		grep -qiE "^FROM[[:space:]]+[^[:space:]]+[[:space:]]+AS[[:space:]]+$svc\$" "$CONTEXT/Dockerfile" ||
			die "the Dockerfile has no target '$svc' (add its block, see docs/images.md)"
	done
	cmd_base
	base=$(base_image_ref)
	tag=$(image_tag)

	# npm inside the build must trust the CA that this machine's TLS goes
	# through. Hand the host's bundle in as a build secret: mounted only
	# while a RUN step runs, never written into a layer.
	local ca="${SHOP_BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-}}"
	if [[ -n "$ca" && -s "$ca" ]]; then
		ca_args=(--secret "id=extra_ca_certs,src=$ca")
	fi

	# buildah gives RUN steps a soft and hard limit of 1024 open files (podman
	# run inherits ours), and the workspace's `npm ci` (700 packages) fails
	# with EMFILE under it. Raise it to this shell's hard limit (a higher one
	# is refused by runc here); BuildKit's default is far higher already.
	local nofile
	nofile=$(ulimit -Hn)
	[[ "$nofile" =~ ^[0-9]+$ ]] && ((nofile <= 65536)) || nofile=65536

	total=$(now_ms)
	for svc in "${services[@]}"; do
		start=$(now_ms)
		# --no-cache on the first target only: it rebuilds every shared stage
		# and stores the new layers, which the other targets then reuse.
		cache_args=()
		if [[ -n "$no_cache" ]]; then
			cache_args=(--no-cache)
			no_cache=
		fi
		log_info "building localhost/shop-$svc:$tag (target $svc, base $base${cache_args[*]:+, no cached layers})"
		# --network=host: RUN steps (npm ci) reach the npm registry through
		# the host's network namespace; never a bridge network here.
		# --layers: reuse unchanged steps; the npm cache mount makes the
		# rest fast.
		buildah bud \
			--network=host \
			--layers \
			"${cache_args[@]}" \
			--pull=never \
			--ulimit "nofile=$nofile:$nofile" \
			--target "$svc" \
			--build-arg "BASE_IMAGE=$base" \
			"${ca_args[@]}" \
			--label "org.opencontainers.image.title=shop-$svc" \
			--label "org.opencontainers.image.revision=$tag" \
			--tag "localhost/shop-$svc:$tag" \
			--tag "localhost/shop-$svc:latest" \
			--file "$CONTEXT/Dockerfile" \
			"$CONTEXT"
		log_ok "localhost/shop-$svc:$tag in $(elapsed_since "$start"), $(image_size "localhost/shop-$svc:$tag")"
	done
	((${#services[@]} > 1)) && log_ok "${#services[@]} images in $(elapsed_since "$total")"
	return 0
}

image_size() {
	podman image inspect --format '{{.Size}}' "$1" 2>/dev/null | awk '{printf "%.0f MB", $1 / 1000000}'
}

container_name() { printf 'shop-%s' "$1"; }

cmd_run() {
	containers_require_root
	local svc=${1:-} name image
	[[ -n "$svc" ]] || usage
	shift
	name=$(container_name "$svc")
	image="localhost/shop-$svc:${SHOP_IMAGE_TAG:-latest}"
	podman image exists "$image" || die "no image $image (scripts/images.sh build $svc)"
	if podman container exists "$name"; then
		if [[ "$(podman container inspect --format '{{.State.Running}}' "$name")" == true ]]; then
			die "$name is already running (scripts/images.sh stop $svc)"
		fi
		podman rm "$name" >/dev/null
	fi
	# Host network only (the project may talk to 127.0.0.0/8 and nothing
	# else); read-only root filesystem like the chart's securityContext; the
	# image's own non-root USER. Extra arguments (-e NAME=value,
	# --env-file FILE, ...) go to podman run as they are.
	podman run --detach \
		--name "$name" \
		--label "$MANAGED_LABEL" \
		--network=host \
		--read-only \
		--env NODE_ENV=production \
		"$@" \
		"$image" >/dev/null
	log_ok "$name running ($image); logs: scripts/images.sh logs $svc"
}

cmd_stop() {
	containers_require_root
	local names=() svc name start code
	if (($# == 0)); then
		mapfile -t names < <(podman ps --filter "label=$MANAGED_LABEL" --format '{{.Names}}')
	else
		for svc in "$@"; do names+=("$(container_name "$svc")"); done
	fi
	((${#names[@]} == 0)) && {
		log_info "no containers of ours are running"
		return 0
	}
	for name in "${names[@]}"; do
		podman container exists "$name" || {
			log_warn "$name: no such container"
			continue
		}
		start=$(now_ms)
		# SIGTERM, then SIGKILL after 30 s like Kubernetes'
		# terminationGracePeriodSeconds default.
		podman stop --time 30 "$name" >/dev/null
		code=$(podman container inspect --format '{{.State.ExitCode}}' "$name")
		log_ok "$name stopped in $(elapsed_since "$start") with exit code $code (kept for \`logs\` until the next \`run\`)"
	done
}

cmd_logs() {
	local svc=${1:-}
	[[ -n "$svc" ]] || usage
	shift
	podman logs "$@" "$(container_name "$svc")"
}

cmd_list() {
	podman images --filter 'reference=localhost/shop-*' --format 'table {{.Repository}}:{{.Tag}} {{.ID}} {{.Size}} {{.Created}}'
	echo
	podman ps --all --filter "label=$MANAGED_LABEL" --format 'table {{.Names}} {{.Image}} {{.Status}}'
}

cmd_prune() {
	containers_require_root
	podman image prune --force
}

case "${1:-}" in
tools) cmd_tools ;;
prune) cmd_prune ;;
base) shift && cmd_base "$@" ;;
build) shift && cmd_build "$@" ;;
run) shift && cmd_run "$@" ;;
stop) shift && cmd_stop "$@" ;;
logs) shift && cmd_logs "$@" ;;
list) cmd_list ;;
tag) image_tag && echo ;;
*) usage ;;
esac
