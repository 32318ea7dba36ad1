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
K8S_LOGS=$K8S_RUN_DIR/logs
# The apiserver's port on 127.0.0.1 (cluster.sh has the control plane's other ports).
K8S_API_PORT=${SHOP_K8S_API_PORT:-16443}
K8S_PKI=$K8S_RUN_DIR/pki
KUBECONFIG_FILE=$K8S_RUN_DIR/kubeconfig

# Cluster address ranges. Services get ClusterIPs from the first; kwok hands its
# fake pods IPs from the second (nothing may ever connect to those). The real
# node's pods live on the third, on the project's bridge. Routes for all three
# are added on this machine (scripts/k8s/node.sh), so two clusters on one
# machine need different ranges.
K8S_SERVICE_CIDR=${SHOP_K8S_SERVICE_CIDR:-10.96.0.0/16}
K8S_POD_CIDR=${SHOP_K8S_POD_CIDR:-10.244.0.0/16}
K8S_NODE_POD_CIDR=${SHOP_K8S_NODE_POD_CIDR:-10.250.0.0/24}

# The real node (scripts/k8s/node.sh): every name it creates on this machine
# comes from here, so what `down` removes is exactly what `up` made.
K8S_REAL_NODE=${SHOP_K8S_REAL_NODE:-1}
K8S_NODE_NAME=${SHOP_K8S_NODE_NAME:-shop-node}
K8S_BRIDGE=${SHOP_K8S_BRIDGE:-shop0}
# containerd's state and sockets, the pods' network namespaces, CNI's IP leases:
# on tmpfs, gone on reboot like the processes that use them.
K8S_NODE_STATE_DIR=${SHOP_K8S_NODE_STATE_DIR:-/run/$K8S_NODE_NAME}
# Images (containerd root), the kubelet's root dir, configs and pod logs: kept
# across down/up like etcd's data, so imported images survive a restart.
K8S_NODE_DATA_DIR=${SHOP_K8S_NODE_DATA_DIR:-$K8S_RUN_DIR/node}
# Parent of every pod cgroup (the kubelet's cgroupRoot), in each hierarchy.
K8S_CGROUP_PARENT=${SHOP_K8S_CGROUP_PARENT:-$K8S_NODE_NAME}
# Ports of the real node. The kubelet's API and cluster DNS listen on the bridge
# address (the API server and the pods reach them there), the rest on 127.0.0.1.
K8S_KUBELET_PORT=${SHOP_K8S_KUBELET_PORT:-20250}
K8S_KUBELET_HEALTHZ_PORT=${SHOP_K8S_KUBELET_HEALTHZ_PORT:-20248}
K8S_PROXY_HEALTHZ_PORT=${SHOP_K8S_PROXY_HEALTHZ_PORT:-20256}
K8S_PROXY_METRICS_PORT=${SHOP_K8S_PROXY_METRICS_PORT:-20249}
K8S_DNS_PORT=${SHOP_K8S_DNS_PORT:-20053}
# The host's Postgres and Kafka (scripts/infra.sh), which the real node's pods
# reach on the bridge address at these ports through relays (the chart's
# external mode). Kafka's is a listener of its own that advertises the bridge
# address (scripts/lib/kafka.sh).
K8S_HOST_PG_PORT=${SHOP_PG_PORT:-15432}
K8S_HOST_KAFKA_PORT=${SHOP_KAFKA_NODE_PORT:-19094}

k8s_log() { printf '[k8s %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
k8s_die() {
	k8s_log "error: $*"
	exit 1
}

# "3m07s" from a number of seconds.
k8s_duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# --- addresses ---------------------------------------------------------------

ip_to_int() {
	local IFS=. a b c d
	read -r a b c d <<<"$1"
	echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
int_to_ip() { echo "$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"; }
# cidr_host CIDR N: the Nth address of CIDR (1: the first after the network address).
cidr_host() { int_to_ip $(($(ip_to_int "${1%/*}") + $2)); }

# The `kubernetes` Service's ClusterIP, cluster DNS's, and the real node's address
# (its bridge's, the first of its pod range: the pods' gateway).
K8S_API_SERVICE_IP=$(cidr_host "$K8S_SERVICE_CIDR" 1)
K8S_DNS_SERVICE_IP=$(cidr_host "$K8S_SERVICE_CIDR" 10)
K8S_NODE_IP=$(cidr_host "$K8S_NODE_POD_CIDR" 1)

# --- processes -----------------------------------------------------------------
# Every component runs detached (its own session) with a PID file
# $K8S_RUN_DIR/<name>.pid holding its PID and, on a second line, its binary's
# name (for a component whose name is not its binary's, such as a relay).

# The PID of a component if the process in its PID file is alive AND is ours
# (its command line starts with the recorded binary): a PID file left by a
# crash may name a PID the kernel has since given to an unrelated process.
live_pid() {
	local name=$1 pidfile=$K8S_RUN_DIR/$1.pid pid exe
	[[ -f $pidfile ]] || return 1
	{
		read -r pid
		read -r exe || true
	} <"$pidfile"
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	local cmd
	cmd=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n1)
	[[ $cmd == */"${exe:-$name}" || $cmd == "${exe:-$name}" ]] || return 1
	echo "$pid"
}

clear_stale_pid() {
	local name=$1 pidfile=$K8S_RUN_DIR/$1.pid
	if [[ -f $pidfile ]] && ! live_pid "$name" >/dev/null; then
		k8s_log "$name: removing stale PID file (PID $(head -n1 "$pidfile") is gone or not $name)"
		rm -f "$pidfile"
	fi
}

# port_in_use HOST PORT: prints who listens there, if anyone.
port_in_use() {
	local host=$1 port=$2
	if command -v ss >/dev/null; then
		ss -Hltnup "sport = :$port" 2>/dev/null | awk -v h="$host" '$5 ~ "^(" h "|0.0.0.0|\\*|\\[::\\]):" { print $NF; exit }'
	elif (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
		echo "something"
	fi
}

# Refuses to start on a port something else already listens on, naming it.
check_port_free() {
	local name=$1 port=$2 host=${3:-127.0.0.1} who
	who=$(port_in_use "$host" "$port")
	[[ -z $who ]] || k8s_die "$name: port $host:$port is already in use by: $who
  Stop that process, or move the port with its SHOP_K8S_*_PORT variable (scripts/k8s/README.md lists them)."
}

# start_component NAME COMMAND...: starts COMMAND detached (own session) so it
# outlives this script and the make process, logging to $K8S_LOGS/NAME.log.
start_component() {
	local name=$1
	shift
	k8s_log "$name: starting (log: $K8S_LOGS/$name.log)"
	printf '\n=== %s starting: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$K8S_LOGS/$name.log"
	setsid "$@" >>"$K8S_LOGS/$name.log" 2>&1 </dev/null &
	local pid=$! i
	printf '%s\n%s\n' "$pid" "$(basename "$1")" >"$K8S_RUN_DIR/$name.pid"
	# Until setsid has exec'd the binary, /proc shows setsid (or bash) under that PID, and
	# wait_for would take the component for dead; on a starved machine that takes a while.
	for ((i = 0; i < 100; i++)); do
		live_pid "$name" >/dev/null && return 0
		[[ -d /proc/$pid ]] || return 0 # it died at once: wait_for reports that, with the log
		sleep 0.1
	done
}

# stop_components NAME...: SIGTERM to each running one, then up to 15 s for them
# to exit before SIGKILL: `down` must leave nothing running.
stop_components() {
	local name pid entry pids=()
	for name in "$@"; do
		if pid=$(live_pid "$name"); then
			k8s_log "$name: stopping (PID $pid)"
			kill -TERM "$pid"
			pids+=("$pid:$name")
		fi
	done
	local deadline=$((SECONDS + 15))
	for entry in ${pids[@]+"${pids[@]}"}; do
		pid=${entry%%:*}
		name=${entry#*:}
		while [[ -d /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.2; done
		if [[ -d /proc/$pid ]]; then
			k8s_log "$name: still running after 15 s, killing"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	for name in "$@"; do rm -f "$K8S_RUN_DIR/$name.pid"; done
}

# Seconds to wait for each readiness step (a cold apiserver on 2 cores takes ~10 s).
READY_TIMEOUT=${SHOP_K8S_READY_TIMEOUT:-120}

# wait_for NAME DESCRIPTION COMMAND...: polls COMMAND until it succeeds; fails
# early, with the log tail, when the component's process has died.
wait_for() {
	local name=$1 what=$2
	shift 2
	local deadline=$((SECONDS + READY_TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		if [[ $name != - ]] && ! live_pid "$name" >/dev/null; then
			tail -n 20 "$K8S_LOGS/$name.log" >&2
			k8s_die "$name exited while waiting for $what (log: $K8S_LOGS/$name.log)"
		fi
		((SECONDS < deadline)) || k8s_die "timed out after ${READY_TIMEOUT}s waiting for $what (logs: $K8S_LOGS/)"
		sleep 0.5
	done
}

load_tools() {
	[[ -f $K8S_TOOLS_ENV ]] || k8s_die "no $K8S_TOOLS_ENV: build the binaries first (make k8s-tools)"
	# shellcheck source=/dev/null
	source "$K8S_TOOLS_ENV"
	[[ $K8S_VERSION == "$(sed -n 's/^K8S_VERSION=//p' "$K8S_SCRIPTS_DIR/versions.env")" ]] ||
		k8s_die "$K8S_TOOLS_ENV is for another version than scripts/k8s/versions.env: run make k8s-tools"
}

kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# --- certificates --------------------------------------------------------------

# issue_cert NAME SUBJECT serverAuth|clientAuth [SANS]: $K8S_PKI/NAME.crt and .key,
# signed by the cluster CA, made once; again when SANS changed. ECDSA P-256:
# generated in milliseconds where RSA takes seconds.
issue_cert() {
	local name=$1 subject=$2 usage=$3 sans=${4:-}
	local want="$subject|$usage|$sans"
	[[ -f $K8S_PKI/$name.crt && "$(cat "$K8S_PKI/$name.id" 2>/dev/null)" == "$want" ]] && return 0
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subject" \
		-keyout "$K8S_PKI/$name.key" -out "$K8S_PKI/$name.csr" 2>/dev/null
	openssl x509 -req -in "$K8S_PKI/$name.csr" -CA "$K8S_PKI/ca.crt" -CAkey "$K8S_PKI/ca.key" -CAcreateserial \
		-days 3650 -sha256 -out "$K8S_PKI/$name.crt" -extfile <(
			printf '%s\n' "extendedKeyUsage=$usage" "keyUsage=critical,digitalSignature,keyEncipherment"
			[[ -z $sans ]] || printf 'subjectAltName=%s\n' "$sans"
		) 2>/dev/null
	chmod 600 "$K8S_PKI/$name.key"
	printf '%s' "$want" >"$K8S_PKI/$name.id"
}

# write_kubeconfig_for FILE CERT: a kubeconfig for the apiserver on 127.0.0.1 with
# the client certificate $K8S_PKI/CERT.crt; the data is inline so the file can be copied.
write_kubeconfig_for() {
	local file=$1 cert=$2 tmp=$1.tmp
	cat >"$tmp" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: shop-local
		  cluster:
		    server: https://127.0.0.1:$K8S_API_PORT
		    certificate-authority-data: $(base64 -w0 "$K8S_PKI/ca.crt")
		users:
		- name: $cert
		  user:
		    client-certificate-data: $(base64 -w0 "$K8S_PKI/$cert.crt")
		    client-key-data: $(base64 -w0 "$K8S_PKI/$cert.key")
		contexts:
		- name: shop-local
		  context: {cluster: shop-local, user: $cert, namespace: default}
		current-context: shop-local
	EOF
	chmod 600 "$tmp"
	mv "$tmp" "$file"
}
