#!/usr/bin/env bash
# Runs a real Kubernetes control plane as plain processes on 127.0.0.1:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and kwok
# simulating three nodes (there is no kubelet and no container runtime here).
#
#   cluster.sh up       start whatever is not running yet, wait until usable
#   cluster.sh down     stop the processes `up` started (only those, by PID)
#   cluster.sh status   what runs, and the kubeconfig path
#
# State lives in .run/k8s/ of this checkout: pki/, etcd/ (kept across down/up,
# like the Postgres data of `make infra-up`), logs/, *.pid and kubeconfig.
# `down --purge` also deletes it. Binaries come from `scripts/k8s.sh tools`.
#
# Network rule: everything binds to and talks to 127.0.0.1 only. The pod, node
# and Service IPs the cluster hands out are fake; nothing here connects to them.
set -euo pipefail
# shellcheck source=scripts/k8s/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Project-owned ports, away from the Kubernetes defaults (6443, 2379, 10257,
# 10259) so a real cluster or another tool on the machine does not collide.
API_PORT=${SHOP_K8S_API_PORT:-16443}
ETCD_PORT=${SHOP_K8S_ETCD_PORT:-12379}
ETCD_PEER_PORT=${SHOP_K8S_ETCD_PEER_PORT:-12380}
KCM_PORT=${SHOP_K8S_KCM_PORT:-20257}
SCHEDULER_PORT=${SHOP_K8S_SCHEDULER_PORT:-20259}
# Fake address ranges: Services get ClusterIPs from the first, kwok gives pods
# IPs from the second. Nothing routes them; they only have to look real.
SERVICE_CIDR=10.96.0.0/16
POD_CIDR=10.244.0.0/16
NODE_COUNT=3
# Seconds to wait for each readiness step (a cold apiserver on 2 cores takes ~10 s).
READY_TIMEOUT=${SHOP_K8S_READY_TIMEOUT:-120}

PKI=$K8S_RUN_DIR/pki
LOGS=$K8S_RUN_DIR/logs
KUBECONFIG_FILE=$K8S_RUN_DIR/kubeconfig
# Start order; `down` goes the other way.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

load_tools() {
	[[ -f $K8S_TOOLS_ENV ]] || k8s_die "no $K8S_TOOLS_ENV: build the binaries first (make k8s-tools)"
	# shellcheck source=/dev/null
	source "$K8S_TOOLS_ENV"
	[[ $K8S_VERSION == "$(sed -n 's/^K8S_VERSION=//p' "$K8S_SCRIPTS_DIR/versions.env")" ]] ||
		k8s_die "$K8S_TOOLS_ENV is for another version than scripts/k8s/versions.env: run make k8s-tools"
}

binary_of() {
	case $1 in
	etcd) echo "$ETCD" ;;
	kube-apiserver) echo "$KUBE_APISERVER" ;;
	kube-controller-manager) echo "$KUBE_CONTROLLER_MANAGER" ;;
	kube-scheduler) echo "$KUBE_SCHEDULER" ;;
	kwok) echo "$KWOK" ;;
	esac
}

port_of() {
	case $1 in
	etcd) echo "$ETCD_PORT $ETCD_PEER_PORT" ;;
	kube-apiserver) echo "$API_PORT" ;;
	kube-controller-manager) echo "$KCM_PORT" ;;
	kube-scheduler) echo "$SCHEDULER_PORT" ;;
	kwok) echo "" ;;
	esac
}

# The PID of a component if the process in its PID file is alive AND is ours
# (its command line starts with our binary): a PID file left by a crash may
# name a PID the kernel has since given to an unrelated process.
live_pid() {
	local name=$1 pidfile=$K8S_RUN_DIR/$1.pid pid
	[[ -f $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	local exe
	exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n1)
	[[ $exe == */$name ]] || return 1
	echo "$pid"
}

clear_stale_pid() {
	local name=$1 pidfile=$K8S_RUN_DIR/$1.pid
	if [[ -f $pidfile ]] && ! live_pid "$name" >/dev/null; then
		k8s_log "$name: removing stale PID file (PID $(<"$pidfile") is gone or not $name)"
		rm -f "$pidfile"
	fi
}

# Refuses to start on a port something else already listens on, naming it.
check_port_free() {
	local name=$1 port=$2 who
	if ! command -v ss >/dev/null; then
		# No iproute2: fall back to a connect test (loopback only).
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			k8s_die "$name: port 127.0.0.1:$port is already in use (set SHOP_K8S_*_PORT to move it)"
		fi
		return 0
	fi
	who=$(ss -Hltnp "sport = :$port" 2>/dev/null || true)
	if [[ -n $who ]]; then
		k8s_die "$name: port 127.0.0.1:$port is already in use by: $(awk '{print $NF}' <<<"$who" | head -n1)
  Stop that process, or pick other ports: SHOP_K8S_API_PORT, SHOP_K8S_ETCD_PORT, SHOP_K8S_ETCD_PEER_PORT,
  SHOP_K8S_KCM_PORT, SHOP_K8S_SCHEDULER_PORT (defaults 16443, 12379, 12380, 20257, 20259)."
	fi
}

# Starts a component detached (own session), so it outlives this script and the
# make process, and records its PID.
start_component() {
	local name=$1
	shift
	local port
	for port in $(port_of "$name"); do check_port_free "$name" "$port"; done
	k8s_log "$name: starting (log: $LOGS/$name.log)"
	printf '\n=== %s starting: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$LOGS/$name.log"
	setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
	local pid=$! i
	echo "$pid" >"$K8S_RUN_DIR/$name.pid"
	# Until setsid has exec'd the binary, /proc shows setsid (or bash) under that PID, and
	# wait_for would take the component for dead; on a starved machine that takes a while.
	for ((i = 0; i < 100; i++)); do
		live_pid "$name" >/dev/null && return 0
		[[ -d /proc/$pid ]] || return 0 # it died at once: wait_for reports that, with the log
		sleep 0.1
	done
}

# wait_for NAME DESCRIPTION COMMAND...: polls COMMAND until it succeeds; fails
# early, with the log tail, when the component's process has died.
wait_for() {
	local name=$1 what=$2
	shift 2
	local deadline=$((SECONDS + READY_TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		if [[ $name != - ]] && ! live_pid "$name" >/dev/null; then
			tail -n 20 "$LOGS/$name.log" >&2
			k8s_die "$name exited while waiting for $what (log: $LOGS/$name.log)"
		fi
		((SECONDS < deadline)) || k8s_die "timed out after ${READY_TIMEOUT}s waiting for $what (logs: $LOGS/)"
		sleep 0.5
	done
}

# curl against the apiserver with the admin client certificate.
api_curl() { curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$API_PORT$1"; }
# KCM and scheduler serve /healthz with a self-signed certificate, unauthenticated.
healthz() { curl -fsSk "https://127.0.0.1:$1/healthz"; }
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# One CA signs the apiserver's serving certificate and the admin client
# certificate (O=system:masters, i.e. cluster-admin); a separate key pair signs
# ServiceAccount tokens. Made once and kept, so kubeconfigs stay valid across
# down/up. ECDSA P-256 keys: generated in milliseconds where RSA takes seconds.
make_pki() {
	[[ -f $PKI/.done ]] && return 0
	k8s_log "creating PKI in $PKI"
	rm -rf "$PKI"
	mkdir -p "$PKI"
	local o=(-days 3650 -sha256) ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
	openssl req -x509 "${ec[@]}" -nodes "${o[@]}" -subj "/CN=shop-local-k8s-ca" \
		-keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
	# Go's TLS ignores the CN, so the names must be SANs. 10.96.0.1 is the
	# `kubernetes` Service's ClusterIP (first IP of SERVICE_CIDR): in-cluster
	# clients would use it; nothing here does.
	openssl req "${ec[@]}" -nodes -subj "/CN=kube-apiserver" \
		-keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr" 2>/dev/null
	openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial "${o[@]}" \
		-out "$PKI/apiserver.crt" -extfile <(printf '%s\n' \
			"subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1" \
			"extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment") 2>/dev/null
	openssl req "${ec[@]}" -nodes -subj "/O=system:masters/CN=shop-admin" \
		-keyout "$PKI/admin.key" -out "$PKI/admin.csr" 2>/dev/null
	openssl x509 -req -in "$PKI/admin.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial "${o[@]}" \
		-out "$PKI/admin.crt" -extfile <(printf '%s\n' \
			"extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment") 2>/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$PKI/sa.key" 2>/dev/null
	openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	chmod 600 "$PKI"/*.key
	touch "$PKI/.done"
}

# Every client (kubectl, helm, the controllers, kwok, @kubernetes/client-node)
# uses this one admin kubeconfig; the data is inline so the file can be copied.
write_kubeconfig() {
	local tmp=$KUBECONFIG_FILE.tmp
	cat >"$tmp" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: shop-local
		  cluster:
		    server: https://127.0.0.1:$API_PORT
		    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
		users:
		- name: shop-admin
		  user:
		    client-certificate-data: $(base64 -w0 "$PKI/admin.crt")
		    client-key-data: $(base64 -w0 "$PKI/admin.key")
		contexts:
		- name: shop-local
		  context: {cluster: shop-local, user: shop-admin, namespace: default}
		current-context: shop-local
	EOF
	chmod 600 "$tmp"
	mv "$tmp" "$KUBECONFIG_FILE"
}

# kwok reads its options and Stages from one file: kwok's own node stages and
# pod-delete, from the kwok module, plus ours (stages/pod-behaviors.yaml) in
# place of its pod-ready and pod-complete.
write_kwok_config() {
	local behaviour stages
	behaviour=$(grep -v '^#' "$K8S_SCRIPTS_DIR/stages/behaviour.jq" | tr -d '\n')
	# As a single-quoted YAML scalar, whatever quotes a formatter put around the
	# placeholder (the expression itself contains double quotes).
	behaviour="'${behaviour//\'/\'\'}'"
	stages=$(<"$K8S_SCRIPTS_DIR/stages/pod-behaviors.yaml")
	stages=${stages//\"__BEHAVIOUR__\"/__BEHAVIOUR__}
	stages=${stages//\'__BEHAVIOUR__\'/__BEHAVIOUR__}
	{
		cat <<-EOF
			apiVersion: config.kwok.x-k8s.io/v1alpha1
			kind: KwokConfiguration
			options:
			  cidr: $POD_CIDR
			  nodeLeaseDurationSeconds: 40
			  # kwok's defaults (only applied when no config file is given;
			  # with a file, zero parallelism makes kwok exit at start).
			  nodeLeaseParallelism: 4
			  nodePlayStageParallelism: 4
			  podPlayStageParallelism: 4
			  podsOnNodeSyncParallelism: 1
			  enablePodsOnNodeSyncListPager: true
		EOF
		local f
		for f in node-initialize.yaml node-heartbeat-with-lease.yaml pod-delete.yaml; do
			echo '---'
			cat "$KWOK_STAGES_DIR/$f"
		done
		echo '---'
		printf '%s\n' "${stages//__BEHAVIOUR__/"$behaviour"}"
	} >"$K8S_RUN_DIR/kwok.yaml"
}

start_etcd() {
	mkdir -p "$K8S_RUN_DIR/etcd"
	chmod 700 "$K8S_RUN_DIR/etcd"
	# --unsafe-no-fsync: a throw-away dev/test store; fsync only costs time.
	start_component etcd "$ETCD" --name=shop --data-dir="$K8S_RUN_DIR/etcd" \
		--listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster="shop=http://127.0.0.1:$ETCD_PEER_PORT" \
		--unsafe-no-fsync=true --auto-compaction-retention=1 --quota-backend-bytes=2147483648
}

start_apiserver() {
	# --advertise-address=127.0.0.1 with --endpoint-reconciler-type=none: the
	# apiserver would otherwise advertise the default-route address in the
	# `kubernetes` Endpoints (and refuses a loopback one there). No in-cluster
	# client exists, so that Service needs no endpoints, and no address but
	# 127.0.0.1 appears anywhere.
	start_component kube-apiserver "$KUBE_APISERVER" \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--bind-address=127.0.0.1 --secure-port="$API_PORT" \
		--advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
		--cert-dir="$PKI/apiserver-generated" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/ca.crt" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--authorization-mode=RBAC \
		--allow-privileged=true \
		--profiling=false
}

start_controller_manager() {
	# --leader-elect=false: one instance, and no lease wait after a restart.
	# --node-monitor-*: as kwokctl does, so a node whose kwok lease stops is
	# noticed within 40 s. The cluster-signing pair lets CSRs be approved/signed.
	start_component kube-controller-manager "$KUBE_CONTROLLER_MANAGER" \
		--kubeconfig="$KUBECONFIG_FILE" \
		--authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
		--bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$PKI/kcm-generated" \
		--leader-elect=false \
		--root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
		--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--node-monitor-period=5s --node-monitor-grace-period=40s \
		--profiling=false
}

start_scheduler() {
	start_component kube-scheduler "$KUBE_SCHEDULER" \
		--kubeconfig="$KUBECONFIG_FILE" \
		--authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
		--bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --cert-dir="$PKI/scheduler-generated" \
		--leader-elect=false --profiling=false
}

start_kwok() {
	# --manage-all-nodes: the kwok binary manages nothing by default.
	# --node-lease-duration-seconds=40: heartbeat through node leases (the lease
	# stage only refreshes node status every 10 min, so without leases the node
	# controller would mark the nodes NotReady). No --server-address/--node-port:
	# kwok's fake kubelet server (logs, exec) is not wanted and would open a port.
	start_component kwok "$KWOK" \
		--kubeconfig="$KUBECONFIG_FILE" --config="$K8S_RUN_DIR/kwok.yaml" \
		--manage-all-nodes=true --node-lease-duration-seconds=40 --cidr="$POD_CIDR"
}

# Three schedulable nodes (no kwok taint, so chart pods need no tolerations),
# labelled so that topology spread and anti-affinity have something to spread
# over: one hostname each, two zones. kwok's node-initialize stage fills in the
# rest of their status and makes them Ready.
create_nodes() {
	local i zones=(zone-a zone-b zone-a) manifest=""
	for ((i = 0; i < NODE_COUNT; i++)); do
		manifest+="---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    node.alpha.kubernetes.io/ttl: \"0\"
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node.kubernetes.io/instance-type: kwok
    topology.kubernetes.io/region: local
    topology.kubernetes.io/zone: ${zones[i % ${#zones[@]}]}
    type: kwok
status:
  allocatable: {cpu: \"16\", memory: 64Gi, pods: \"110\"}
  capacity: {cpu: \"16\", memory: 64Gi, pods: \"110\"}
"
	done
	kc apply -f - <<<"$manifest" >/dev/null
}

all_nodes_ready() {
	local ready
	ready=$(kc get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true)
	((ready >= NODE_COUNT))
}

cmd_up() {
	load_tools
	command -v openssl >/dev/null || k8s_die "openssl is needed for the cluster PKI (apt-get install openssl)"
	mkdir -p "$K8S_RUN_DIR" "$LOGS"
	local start=$SECONDS name started=0
	local port
	for name in "${COMPONENTS[@]}"; do
		clear_stale_pid "$name"
		# Check every port before starting anything, so a conflict does not
		# leave half a control plane behind.
		if ! live_pid "$name" >/dev/null; then
			for port in $(port_of "$name"); do check_port_free "$name" "$port"; done
		fi
	done
	make_pki
	write_kubeconfig
	write_kwok_config

	# Each step: start the component unless it already runs, then check it is
	# really serving (not just that the process exists).
	live_pid etcd >/dev/null || {
		start_etcd
		started=1
	}
	wait_for etcd "etcd /health" sh -c "curl -fsS http://127.0.0.1:$ETCD_PORT/health | grep -q '\"health\":\"true\"'"
	live_pid kube-apiserver >/dev/null || {
		start_apiserver
		started=1
	}
	wait_for kube-apiserver "kube-apiserver /readyz" api_curl /readyz
	live_pid kube-controller-manager >/dev/null || {
		start_controller_manager
		started=1
	}
	live_pid kube-scheduler >/dev/null || {
		start_scheduler
		started=1
	}
	live_pid kwok >/dev/null || {
		start_kwok
		started=1
	}
	wait_for kube-controller-manager "kube-controller-manager /healthz" healthz "$KCM_PORT"
	wait_for kube-scheduler "kube-scheduler /healthz" healthz "$SCHEDULER_PORT"

	create_nodes
	wait_for kwok "$NODE_COUNT kwok nodes Ready" all_nodes_ready
	# The ServiceAccount admission plugin rejects pods in a namespace until the
	# controller manager has created its `default` ServiceAccount.
	wait_for kube-controller-manager "ServiceAccount default/default" kc -n default get serviceaccount default

	if ((started)); then
		k8s_log "control plane up in $(k8s_duration $((SECONDS - start))) (Kubernetes $K8S_VERSION, $NODE_COUNT kwok nodes)"
	else
		k8s_log "control plane already running (Kubernetes $K8S_VERSION); nothing to do"
	fi
	echo "KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_down() {
	local purge=0
	[[ ${1:-} == --purge ]] && purge=1
	local i name pid pids=()
	# Reverse start order: kwok and the controllers before the apiserver, etcd last.
	for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
		name=${COMPONENTS[i]}
		if pid=$(live_pid "$name"); then
			k8s_log "$name: stopping (PID $pid)"
			kill -TERM "$pid"
			pids+=("$pid:$name")
		fi
	done
	# Give them 15 s to exit cleanly, then SIGKILL the stragglers: `down` must
	# leave nothing running.
	local entry deadline=$((SECONDS + 15))
	for entry in "${pids[@]}"; do
		pid=${entry%%:*}
		name=${entry#*:}
		while [[ -d /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.2; done
		if [[ -d /proc/$pid ]]; then
			k8s_log "$name: still running after 15 s, killing"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	for name in "${COMPONENTS[@]}"; do rm -f "$K8S_RUN_DIR/$name.pid"; done
	if ((purge)); then
		rm -rf "$K8S_RUN_DIR"
		k8s_log "stopped; removed $K8S_RUN_DIR"
	else
		k8s_log "stopped (state kept in $K8S_RUN_DIR; 'scripts/k8s.sh down --purge' removes it)"
	fi
}

cmd_status() {
	local name pid running=0
	for name in "${COMPONENTS[@]}"; do
		if pid=$(live_pid "$name"); then
			printf '  %-24s running  pid %-8s %s\n' "$name" "$pid" "$(port_of "$name" | sed 's/\([0-9]\+\)/127.0.0.1:\1/g')"
			running=$((running + 1))
		else
			printf '  %-24s stopped\n' "$name"
		fi
	done
	if ((running == 0)); then
		echo "control plane: not running (make k8s-up)"
		return 0
	fi
	echo "KUBECONFIG=$KUBECONFIG_FILE"
	if [[ -f $K8S_TOOLS_ENV ]] && ((running == ${#COMPONENTS[@]})); then
		# shellcheck source=/dev/null
		source "$K8S_TOOLS_ENV"
		kc get nodes -L topology.kubernetes.io/zone 2>/dev/null | sed 's/^/  /' || true
	elif ((running < ${#COMPONENTS[@]})); then
		echo "control plane: partly running; 'make k8s-up' starts the rest"
		return 1
	fi
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down "${2:-}" ;;
status) cmd_status ;;
*)
	echo "usage: $0 up|down [--purge]|status" >&2
	exit 2
	;;
esac
