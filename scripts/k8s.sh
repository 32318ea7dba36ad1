#!/usr/bin/env bash
# The local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok as plain processes on 127.0.0.1), behind the make
# targets k8s-tools, k8s-up, k8s-down and k8s-status.
#
#   scripts/k8s.sh tools     build the binaries into ${SHOP_CACHE_DIR:-~/.cache/shop}/k8s (idempotent)
#   scripts/k8s.sh up        start the control plane and 3 fake kwok nodes (idempotent)
#   scripts/k8s.sh down      stop the processes `up` started (--purge: also delete .run/k8s)
#   scripts/k8s.sh status    what runs, on which ports, and the kubeconfig path
#   scripts/k8s.sh running   exit 0 when the control plane runs (for scripts)
#   scripts/k8s.sh selftest  smoke check against the running control plane
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

case "${1:-}" in
tools) exec "$here/k8s/build.sh" ;;
up | down | status | running) exec "$here/k8s/cluster.sh" "$@" ;;
selftest) exec "$here/k8s/smoke.sh" ;;
*)
	sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
