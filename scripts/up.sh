#!/usr/bin/env bash
# `make up` / `make down`: the whole shop on Kubernetes, the way this machine can.
#
#   scripts/up.sh up     with a Docker engine that answers and kind installed: a kind
#                        cluster with the official images (scripts/kind-up.sh, as
#                        before); otherwise the local cluster's real node with images
#                        built by buildah (scripts/local-up.sh)
#   scripts/up.sh down   stops what `up` started, on whichever of the two it ran
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

with_kind() {
	command -v docker >/dev/null 2>&1 && command -v kind >/dev/null 2>&1 &&
		docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

case "${1:-}" in
up)
	if with_kind; then exec "$here/kind-up.sh" up; fi
	printf 'make up: no Docker engine (or no kind) here; running the shop on the local cluster'"'"'s real node\n' >&2
	exec "$here/local-up.sh" up
	;;
down)
	if [[ -f "${SHOP_RUN_DIR:-$here/../.run}/local-up.state" ]] || ! with_kind; then exec "$here/local-up.sh" down; fi
	exec "$here/kind-up.sh" down
	;;
*)
	sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
