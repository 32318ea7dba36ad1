#!/usr/bin/env bash
# The Kubernetes test tier (`make test-k8s`; `make test` calls it): the Helm chart
# in deploy/helm/shop against the local control plane.
#
#   scripts/test-k8s.sh        build the binaries if needed (make k8s-tools), start the
#                              control plane if it is not running (and stop it again at
#                              the end if this script started it; SHOP_K8S_KEEP=1 keeps
#                              it), run the vitest project `k8s`: helm lint, helm
#                              template, kube-score, schema, kind/skaffold files, then
#                              install, upgrades, blue-green state, rollback and helm test
#   scripts/test-k8s.sh lint   the static part only, no cluster (make helm-lint)
#
# The tests create their own namespaces and delete them; they never skip. They are
# type-checked with the rest of the workspace (make typecheck: tsconfig.json
# includes deploy/helm/test).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="$root/node_modules/.bin:$PATH"

log() { printf '\033[1m[test-k8s]\033[0m %s\n' "$*" >&2; }

case "${1:-all}" in
lint)
	start=$SECONDS
	scripts/k8s.sh tools
	vitest run --project k8s-lint
	log "passed in $((SECONDS - start)) s"
	;;
all)
	start=$SECONDS
	scripts/k8s.sh tools
	# Components running before this script; if none, the control plane is ours to stop.
	running_before=$(scripts/k8s.sh status 2>/dev/null | grep -c ' running  pid ' || true)
	scripts/k8s.sh up
	if ((running_before == 0)) && [[ ${SHOP_K8S_KEEP:-0} != 1 ]]; then
		trap 'log "stopping the control plane this run started"; scripts/k8s.sh down' EXIT
	fi
	vitest run --project k8s
	log "passed in $((SECONDS - start)) s"
	;;
*)
	sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
