#!/usr/bin/env bash
# Runs a real Kubernetes cluster as plain processes: the control plane on
# 127.0.0.1 (etcd, kube-apiserver, kube-controller-manager, kube-scheduler),
# kwok simulating three nodes, and one real node (scripts/k8s/node.sh: kubelet,
# kube-proxy, containerd, CNI on the project's own guarded bridge, cluster DNS).
#
#   cluster.sh up       start whatever is not running yet, wait until usable
#   cluster.sh down     stop the processes `up` started (only those, by PID), and
#                       remove what the real node added to the machine
#   cluster.sh status   what runs, and the kubeconfig path
#
# State lives in .run/k8s/ of this checkout: pki/, etcd/ (kept across down/up,
# like the Postgres data of `make infra-up`), logs/, *.pid and kubeconfig.
# `down --purge` also deletes it. Binaries come from `scripts/k8s.sh tools`.
# SHOP_K8S_REAL_NODE=0: the control plane and kwok nodes only.
#
# Network rule: the control plane binds to and talks to 127.0.0.1 only. kwok's
# pod and node IPs are fake: nothing here connects to them. The real node's
# pods are reached on its bridge only once node.sh has set up and checked the
# network guard (scripts/k8s/README.md).
set -euo pipefail
# shellcheck source=scripts/k8s/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Project-owned ports, away from the Kubernetes defaults (6443, 2379, 10257,
# 10259) so a real cluster or another tool on the machine does not collide.
API_PORT=$K8S_API_PORT
ETCD_PORT=${SHOP_K8S_ETCD_PORT:-12379}
ETCD_PEER_PORT=${SHOP_K8S_ETCD_PEER_PORT:-12380}
KCM_PORT=${SHOP_K8S_KCM_PORT:-20257}
SCHEDULER_PORT=${SHOP_K8S_SCHEDULER_PORT:-20259}
NODE_COUNT=3
PKI=$K8S_PKI
LOGS=$K8S_LOGS
# Start order; `down` goes the other way.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

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

# curl against the apiserver with the admin client certificate.
api_curl() { curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$API_PORT$1"; }
# KCM and scheduler serve /healthz with a self-signed certificate, unauthenticated.
healthz() { curl -fsSk "https://127.0.0.1:$1/healthz"; }

# One CA signs every certificate: the apiserver's serving one, the admin client
# (O=system:masters, i.e. cluster-admin), the apiserver's client for kubelets,
# and the real node's (node.sh); a separate key pair signs ServiceAccount
# tokens. Made once and kept, so kubeconfigs stay valid across down/up; a
# certificate whose names changed (another service range) is issued again.
make_pki() {
	if [[ ! -f $PKI/.done ]]; then
		k8s_log "creating PKI in $PKI"
		rm -rf "$PKI"
		mkdir -p "$PKI"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -sha256 \
			-subj "/CN=shop-local-k8s-ca" -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$PKI/sa.key" 2>/dev/null
		openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
		chmod 600 "$PKI"/*.key
		touch "$PKI/.done"
	fi
	# Go's TLS ignores the CN, so the names must be SANs. The `kubernetes`
	# Service's ClusterIP is how the real node's pods reach the apiserver.
	issue_cert apiserver "/CN=kube-apiserver" serverAuth \
		"DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$K8S_API_SERVICE_IP"
	issue_cert admin "/O=system:masters/CN=shop-admin" clientAuth
	issue_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
}

# Every client (kubectl, helm, the controllers, kwok, @kubernetes/client-node)
# uses this one admin kubeconfig.
write_kubeconfig() { write_kubeconfig_for "$KUBECONFIG_FILE" admin; }

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
			  cidr: $K8S_POD_CIDR
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
	# `kubernetes` Endpoints (and refuses a loopback one there). node.sh gives
	# that Service the real node's bridge address, where a relay forwards to
	# 127.0.0.1. The kubelet is reached at its node's InternalIP (the bridge
	# address), never by resolving its name through the machine's DNS.
	start_component kube-apiserver "$KUBE_APISERVER" \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--bind-address=127.0.0.1 --secure-port="$API_PORT" \
		--advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
		--cert-dir="$PKI/apiserver-generated" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/ca.crt" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range="$K8S_SERVICE_CIDR" \
		--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" \
		--kubelet-preferred-address-types=InternalIP \
		--allow-privileged=true \
		--profiling=false
}

start_controller_manager() {
	# --leader-elect=false: one instance, and no lease wait after a restart.
	# --flex-volume-plugin-dir: its default, /usr/libexec/kubernetes/..., would be
	# created on the machine.
	# --node-monitor-*: as kwokctl does, so a node whose kwok lease stops is
	# noticed within 40 s. The cluster-signing pair lets CSRs be approved/signed.
	start_component kube-controller-manager "$KUBE_CONTROLLER_MANAGER" \
		--kubeconfig="$KUBECONFIG_FILE" \
		--authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
		--bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$PKI/kcm-generated" \
		--leader-elect=false \
		--root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
		--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
		--service-cluster-ip-range="$K8S_SERVICE_CIDR" \
		--node-monitor-period=5s --node-monitor-grace-period=40s \
		--flex-volume-plugin-dir="$K8S_RUN_DIR/volume-plugins" \
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
	# Only the nodes annotated kwok.x-k8s.io/node=fake (create_nodes): the real
	# node, and its pods, are the kubelet's; kwok faking their status would hide
	# what really runs.
	# --node-lease-duration-seconds=40: heartbeat through node leases (the lease
	# stage only refreshes node status every 10 min, so without leases the node
	# controller would mark the nodes NotReady). No --server-address/--node-port:
	# kwok's fake kubelet server (logs, exec) is not wanted and would open a port.
	start_component kwok "$KWOK" \
		--kubeconfig="$KUBECONFIG_FILE" --config="$K8S_RUN_DIR/kwok.yaml" \
		--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--node-lease-duration-seconds=40 --cidr="$K8S_POD_CIDR"
}

# Three schedulable nodes (no kwok taint, so chart pods need no tolerations),
# labelled so that topology spread and anti-affinity have something to spread
# over: one hostname each, two zones. kwok's node-initialize stage fills in the
# rest of their status and makes them Ready. They report ephemeral-storage like
# a real node, so pods that request it (the chart's) schedule.
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
  allocatable: {cpu: \"16\", memory: 64Gi, ephemeral-storage: 200Gi, pods: \"110\"}
  capacity: {cpu: \"16\", memory: 64Gi, ephemeral-storage: 200Gi, pods: \"110\"}
"
	done
	kc apply -f - <<<"$manifest" >/dev/null
	# A node kept in etcd from before keeps its old status (apply leaves status alone).
	for ((i = 0; i < NODE_COUNT; i++)); do
		kc patch node "kwok-node-$i" --subresource=status --type=merge \
			-p '{"status":{"capacity":{"ephemeral-storage":"200Gi"},"allocatable":{"ephemeral-storage":"200Gi"}}}' >/dev/null
	done
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
	# The real node's network guard is set up and checked before anything starts;
	# node.sh refuses (and this stops) if any piece of it is missing.
	if ((K8S_REAL_NODE)); then "$K8S_SCRIPTS_DIR/node.sh" guard; fi
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
		k8s_log "control plane already running (Kubernetes $K8S_VERSION)"
	fi
	if ((K8S_REAL_NODE)); then "$K8S_SCRIPTS_DIR/node.sh" up; fi
	echo "KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_down() {
	local purge=0
	[[ ${1:-} == --purge ]] && purge=1
	# The real node first, while the apiserver still answers; it removes what it
	# added to the machine whether or not it was started by this checkout's up.
	"$K8S_SCRIPTS_DIR/node.sh" down
	# Reverse start order, one at a time: kwok and the controllers before the
	# apiserver, etcd last (an apiserver whose etcd is gone first waits to be killed).
	local i
	for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_components "${COMPONENTS[i]}"; done
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
		"$K8S_SCRIPTS_DIR/node.sh" status || true
		# shellcheck source=/dev/null
		source "$K8S_TOOLS_ENV"
		kc get nodes -L type,topology.kubernetes.io/zone 2>/dev/null | sed 's/^/  /' || true
	elif ((running < ${#COMPONENTS[@]})); then
		echo "control plane: partly running; 'make k8s-up' starts the rest"
		return 1
	fi
}

# Exit 0 when any component of the control plane runs (for scripts; no output).
cmd_running() {
	local name
	for name in "${COMPONENTS[@]}"; do live_pid "$name" >/dev/null && return 0; done
	return 1
}

case "${1:-}" in
up) cmd_up ;;
running) cmd_running ;;
down) cmd_down "${2:-}" ;;
status) cmd_status ;;
*)
	echo "usage: $0 up|down [--purge]|status|running" >&2
	exit 2
	;;
esac
