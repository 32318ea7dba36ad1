# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for the scripts that source this
# Shared by scripts/k8s.sh and scripts/k8s/*.sh: where things live, and logging.
# Sourced, not run; callers set `set -euo pipefail` themselves.

K8S_SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$K8S_SCRIPTS_DIR/../.." && pwd)
# shellcheck source=scripts/k8s/versions.env
source "$K8S_SCRIPTS_DIR/versions.env"

SHOP_CACHE_DIR=${SHOP_CACHE_DIR:-$HOME/.cache/shop}
# Built binaries, one directory per <component>-<version>, outside the checkout
# so every clone on the machine (and every CI run on a reused machine) shares them.
K8S_CACHE_DIR=$SHOP_CACHE_DIR/k8s
# What `tools` resolved: versions and absolute binary paths. Other scripts source it.
K8S_TOOLS_ENV=$K8S_CACHE_DIR/versions.env
# Per-checkout state of a running control plane (PKI, etcd data, PIDs, logs).
K8S_RUN_DIR=${SHOP_K8S_RUN_DIR:-$REPO_ROOT/.run/k8s}

k8s_log() { printf '[k8s %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
k8s_die() {
	k8s_log "error: $*"
	exit 1
}

# "3m07s" from a number of seconds.
k8s_duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
