#!/usr/bin/env bash
# The local cluster's real node: a kubelet and kube-proxy on containerd 2 and
# runc, pods on a bridge of the project's own (CNI bridge + host-local), and
# cluster DNS (CoreDNS) so pods reach Services by name. cluster.sh runs it
# beside the control plane and the kwok nodes; it needs root.
#
#   node.sh guard      set up the network guard, then check it (fails closed)
#   node.sh check      only check the guard; exit 1 naming every missing piece
#   node.sh up         guard, then containerd, CoreDNS, the apiserver relay, the
#                      kubelet and kube-proxy; waits until the node is Ready
#   node.sh down       stop them and remove everything the node added to the
#                      machine: containers, mounts, cgroups, iptables chains and
#                      rules, routes, the bridge, sysctls, directories
#   node.sh status     what runs
#   node.sh import ARCHIVE...   import image archives (docker-archive or OCI) into
#                      the node's containerd
#   node.sh footprint  print the machine state a node can change (for the
#                      teardown test: the same before `up` and after `down`)
#
# The network guard (the project's network rule): pods live on the bridge
# $SHOP_K8S_BRIDGE with addresses from $SHOP_K8S_NODE_POD_CIDR and NO default
# route (their only route besides the bridge's own range is the Service range);
# every cluster range is blackholed so a miss is dropped, never forwarded out;
# the Service range is routed to the bridge for kube-proxy's DNAT from this
# machine; and FORWARD drop rules (filter and mangle, IPv4 and IPv6) stop any
# packet from crossing between the bridge and another interface. `up` checks
# every piece before it starts anything and refuses to go on if one is missing.
#
# Everything added to the machine is recorded in a ledger ($K8S_RUN_DIR/node.ledger)
# as it is added; `down` undoes the ledger in reverse, then removes what the
# kubelet, kube-proxy and containerd made (their KUBE-* chains, mounts and
# cgroups, all under names and directories of this node).
set -euo pipefail
# shellcheck source=scripts/k8s/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LEDGER=$K8S_RUN_DIR/node.ledger
NODE_PKI_DIR=$K8S_PKI
CONF=$K8S_NODE_DATA_DIR/conf
CNI_CONF_DIR=$CONF/cni
CONTAINERD_ROOT=$K8S_NODE_DATA_DIR/containerd
KUBELET_ROOT=$K8S_NODE_DATA_DIR/kubelet
POD_LOGS=$K8S_NODE_DATA_DIR/pod-logs
CONTAINERD_SOCK=$K8S_NODE_STATE_DIR/containerd.sock
PREFIX_LEN=${K8S_NODE_POD_CIDR#*/}
# Components in start order; `down` stops them the other way round.
NODE_COMPONENTS=(containerd coredns apiserver-relay postgres-relay kafka-relay kubelet kube-proxy)
# What marks the iptables rules of this node's guard.
GUARD_COMMENT="shop-guard:$K8S_BRIDGE"
# The kernel settings the kubelet changes at start (setupKernelTunables) unless
# they already have its values; recorded before and restored by `down`.
KUBELET_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# Directories outside this node's own that its components create when missing
# whatever they are configured with: the kubelet's container log links and its
# device-plugin socket directory (both fixed paths in the kubelet), CNI's result
# cache. Recorded when this node creates them, removed by `down`.
SHARED_DIRS=(/var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd)
# Debian packages the node needs: runc (containerd's runtime), the CNI plugins,
# iptables and conntrack (kube-proxy), nftables (iptables' backend here, to
# list and remove the tables iptables creates), socat (the apiserver relay).
NODE_APT_PACKAGES=(runc containernetworking-plugins iptables conntrack nftables socat)
CNI_BIN_DIR=/usr/lib/cni
RUNC=/usr/sbin/runc

# The names below decide what `down` kills and removes: refuse anything that is
# not a plain name or a directory of its own.
validate_names() {
	local name
	for name in "$K8S_NODE_NAME" "$K8S_BRIDGE" "$K8S_CGROUP_PARENT"; do
		[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || k8s_die "'$name' is not a plain name (SHOP_K8S_NODE_NAME, SHOP_K8S_BRIDGE, SHOP_K8S_CGROUP_PARENT)"
	done
	((${#K8S_BRIDGE} <= 15)) || k8s_die "SHOP_K8S_BRIDGE=$K8S_BRIDGE is longer than an interface name may be (15)"
	for name in "$K8S_NODE_STATE_DIR" "$K8S_NODE_DATA_DIR"; do
		[[ $name == /?*/?* && $name != *..* ]] || k8s_die "'$name' must be an absolute directory of the node's own (SHOP_K8S_NODE_STATE_DIR, SHOP_K8S_NODE_DATA_DIR)"
	done
}
validate_names

need_root() { [[ $EUID -eq 0 ]] || k8s_die "the real node needs root (network namespaces, iptables, cgroups); SHOP_K8S_REAL_NODE=0 runs without it"; }

install_packages() {
	local pkg missing=()
	for pkg in "${NODE_APT_PACKAGES[@]}"; do
		[[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" == installed ]] || missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return 0
	k8s_log "installing ${missing[*]} from Debian"
	local opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -q)
	if ! DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
		apt-get "${opts[@]}" update >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null ||
			k8s_die "apt-get install ${missing[*]} failed"
	fi
}

# --- the ledger ------------------------------------------------------------------

# record KIND ARGS...: one line, written before the change is made so that an
# interrupted `up` is undone too (undoing something not there is a no-op).
record() { printf '%s\n' "$*" >>"$LEDGER"; }

# undo one ledger line.
undo() {
	local kind=$1
	shift
	case $kind in
	link) ip link del "$1" 2>/dev/null || true ;;
	route) ip route del "$@" 2>/dev/null || true ;;
	rule4) iptables -w -t "$1" -D "${@:2}" 2>/dev/null || true ;;
	rule6) ip6tables -w -t "$1" -D "${@:2}" 2>/dev/null || true ;;
	sysctl) sysctl -qw "$1=$2" || k8s_log "could not restore $1 to $2" ;;
	cgroup) remove_cgroup_tree "$1" ;;
	dir) rm -rf "$1" ;;
	nft-table) remove_empty_table "$1" "$2" ;;
	*) k8s_log "unknown ledger line: $kind $*" ;;
	esac
}

# An iptables table this node caused to exist, once nothing is left in it.
remove_empty_table() {
	local family=$1 table=$2 save=iptables-save
	[[ $family == ip6 ]] && save=ip6tables-save
	nft list table "$family" "$table" >/dev/null 2>&1 || return 0
	if "$save" -t "$table" 2>/dev/null | grep '^-A\|^:[^ ]* -' >/dev/null; then
		k8s_log "leaving the $family $table table: it has rules or chains that are not this node's"
		return 0
	fi
	nft delete table "$family" "$table"
}

# --- the network guard ---------------------------------------------------------------

# A probe address in a range: its 5th, never the bridge's own.
probe_ip() { cidr_host "$1" 5; }

guard_rules() { # family: prints "table chain rule..." lines of the guard
	local t
	for t in filter mangle; do
		printf '%s FORWARD -i %s ! -o %s -m comment --comment %s -j DROP\n' "$t" "$K8S_BRIDGE" "$K8S_BRIDGE" "$GUARD_COMMENT"
		printf '%s FORWARD ! -i %s -o %s -m comment --comment %s -j DROP\n' "$t" "$K8S_BRIDGE" "$K8S_BRIDGE" "$GUARD_COMMENT"
	done
}

blackholed_ranges() { printf '%s\n' "$K8S_NODE_POD_CIDR" "$K8S_POD_CIDR" "$K8S_SERVICE_CIDR"; }

# Before creating anything: nothing of another cluster or network may be in the way.
preflight() {
	local problems=() cidr routes
	if [[ ! -s $LEDGER ]]; then
		if ip link show "$K8S_BRIDGE" >/dev/null 2>&1; then
			problems+=("a link named $K8S_BRIDGE exists and is not this node's (SHOP_K8S_BRIDGE picks another name)")
		fi
		for cidr in $(blackholed_ranges); do
			routes=$(ip route show to match "$(probe_ip "$cidr")" | grep -v '^default' || true)
			[[ -z $routes ]] || problems+=("this machine already routes $cidr ($routes): pick other ranges (SHOP_K8S_SERVICE_CIDR, SHOP_K8S_POD_CIDR, SHOP_K8S_NODE_POD_CIDR)")
		done
		if iptables-save 2>/dev/null | grep '^:KUBE-' >/dev/null; then
			problems+=("iptables has KUBE-* chains already: another kubelet or kube-proxy runs (or ran) on this machine; two cannot share it")
		fi
	fi
	if ((${#problems[@]})); then
		printf '[k8s] cannot set up the real node:\n' >&2
		printf '  - %s\n' "${problems[@]}" >&2
		exit 1
	fi
}

cmd_guard() {
	need_root
	install_packages
	mkdir -p "$K8S_RUN_DIR" "$K8S_LOGS"
	preflight
	# iptables-nft makes its tables on first use: the ones missing now are ours to remove.
	local family table
	for family in ip ip6; do
		for table in filter mangle nat raw; do
			nft list table "$family" "$table" >/dev/null 2>&1 || grep -qx "nft-table $family $table" "$LEDGER" 2>/dev/null ||
				record nft-table "$family" "$table"
		done
	done
	if ! ip link show "$K8S_BRIDGE" >/dev/null 2>&1; then
		record link "$K8S_BRIDGE"
		ip link add name "$K8S_BRIDGE" type bridge
	fi
	# No IPv6 on the bridge: the pods get IPv4 only, and nothing else may talk there.
	sysctl -qw "net.ipv6.conf.$K8S_BRIDGE.disable_ipv6=1"
	ip addr replace "$K8S_NODE_IP/$PREFIX_LEN" dev "$K8S_BRIDGE"
	ip link set "$K8S_BRIDGE" up
	local cidr
	for cidr in $(blackholed_ranges); do
		if ! ip route show type blackhole | grep "^blackhole $cidr " >/dev/null; then
			record route blackhole "$cidr" metric 4000
			ip route add blackhole "$cidr" metric 4000
		fi
	done
	if ! ip route show "$K8S_SERVICE_CIDR" | grep "dev $K8S_BRIDGE" >/dev/null; then
		record route "$K8S_SERVICE_CIDR" dev "$K8S_BRIDGE" src "$K8S_NODE_IP" metric 10
		ip route add "$K8S_SERVICE_CIDR" dev "$K8S_BRIDGE" src "$K8S_NODE_IP" metric 10
	fi
	local line tool kind
	while read -r -a line; do
		for tool in iptables ip6tables; do
			[[ $tool == iptables ]] && kind=rule4 || kind=rule6
			if ! "$tool" -w -t "${line[0]}" -C "${line[@]:1}" 2>/dev/null; then
				record "$kind" "${line[@]}"
				"$tool" -w -t "${line[0]}" -I "${line[@]:1}"
			fi
		done
	done < <(guard_rules)
	write_cni_config
	cmd_check
}

# The pods' network: the bridge plugin on our bridge, addresses from host-local
# in our range, and one route (the Service range, via the bridge address). No
# default route, no masquerading: a pod can reach the bridge's range, the
# Services and this machine's bridge address, nothing else.
write_cni_config() {
	mkdir -p "$CNI_CONF_DIR"
	cat >"$CNI_CONF_DIR/10-$K8S_BRIDGE.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "$K8S_BRIDGE",
		  "plugins": [
		    {
		      "type": "bridge",
		      "bridge": "$K8S_BRIDGE",
		      "isGateway": true,
		      "isDefaultGateway": false,
		      "ipMasq": false,
		      "hairpinMode": true,
		      "ipam": {
		        "type": "host-local",
		        "dataDir": "$K8S_NODE_STATE_DIR/ipam",
		        "ranges": [[{ "subnet": "$K8S_NODE_POD_CIDR", "gateway": "$K8S_NODE_IP", "rangeStart": "$(cidr_host "$K8S_NODE_POD_CIDR" 10)" }]],
		        "routes": [{ "dst": "$K8S_SERVICE_CIDR" }]
		      }
		    }
		  ]
		}
	EOF
}

# Checks every piece of the guard as it is now (not as the ledger says).
cmd_check() {
	local missing=() cidr route line tool
	if ! ip -d link show "$K8S_BRIDGE" 2>/dev/null | grep 'bridge ' >/dev/null; then
		missing+=("the bridge $K8S_BRIDGE")
	else
		ip -o addr show dev "$K8S_BRIDGE" | grep " inet $K8S_NODE_IP/$PREFIX_LEN " >/dev/null || missing+=("$K8S_NODE_IP/$PREFIX_LEN on $K8S_BRIDGE")
		ip -o link show "$K8S_BRIDGE" | grep 'state UP\|,UP' >/dev/null || missing+=("$K8S_BRIDGE up")
		[[ "$(sysctl -n "net.ipv6.conf.$K8S_BRIDGE.disable_ipv6" 2>/dev/null)" == 1 ]] || missing+=("IPv6 disabled on $K8S_BRIDGE")
	fi
	for cidr in $(blackholed_ranges); do
		ip route show type blackhole | grep "^blackhole $cidr " >/dev/null || missing+=("blackhole route for $cidr")
	done
	ip route show "$K8S_SERVICE_CIDR" | grep "dev $K8S_BRIDGE" >/dev/null || missing+=("route $K8S_SERVICE_CIDR dev $K8S_BRIDGE")
	# What the kernel would really do with a packet to each cluster range: stay on
	# the bridge or be dropped, never leave through another interface.
	for cidr in $(blackholed_ranges); do
		route=$(ip route get "$(probe_ip "$cidr")" 2>&1 || true)
		if [[ $cidr == "$K8S_POD_CIDR" ]]; then
			[[ $route == *"No route to host"* || $route == *unreachable* || $route == *blackhole* || $route == *"Invalid argument"* ]] ||
				missing+=("$cidr is blackholed (ip route get says: $route)")
		else
			[[ $route == *" dev $K8S_BRIDGE "* && $route != *" via "* ]] || missing+=("$cidr stays on $K8S_BRIDGE (ip route get says: $route)")
		fi
	done
	while read -r -a line; do
		for tool in iptables ip6tables; do
			"$tool" -w -t "${line[0]}" -C "${line[@]:1}" 2>/dev/null || missing+=("$tool -t ${line[0]} ${line[*]:1}")
		done
	done < <(guard_rules)
	local cni=$CNI_CONF_DIR/10-$K8S_BRIDGE.conflist
	if [[ ! -f $cni ]]; then
		missing+=("the CNI config $cni")
	else
		# No default route, no gateway-as-default, no masquerade in the pods' network.
		local verdict
		verdict=$(node -e '
			const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
			const bad = [];
			for (const p of c.plugins) {
				if (p.isDefaultGateway) bad.push("isDefaultGateway");
				if (p.ipMasq) bad.push("ipMasq");
				for (const r of p.ipam?.routes ?? []) if (r.dst !== process.argv[2]) bad.push(`route ${r.dst}`);
				if (p.type !== "bridge" && p.type !== undefined) bad.push(`plugin ${p.type}`);
			}
			console.log(bad.join(", "));
		' "$cni" "$K8S_SERVICE_CIDR")
		[[ -z $verdict ]] || missing+=("pods without a default route or masquerading ($cni has: $verdict)")
	fi
	if ((${#missing[@]})); then
		printf '[k8s] refusing to run the real node: its network guard is incomplete. Missing:\n' >&2
		printf '  - %s\n' "${missing[@]}" >&2
		printf '`make k8s-down` removes what is there; `make k8s-up` sets it up again.\n' >&2
		exit 1
	fi
	k8s_log "network guard checked: $K8S_BRIDGE $K8S_NODE_IP/$PREFIX_LEN, blackholes for $(blackholed_ranges | tr '\n' ' ')FORWARD drops (filter, mangle; IPv4, IPv6), pods without a default route"
}

# --- configuration -------------------------------------------------------------------

make_node_pki() {
	issue_cert "node-$K8S_NODE_NAME-kubelet" "/O=system:nodes/CN=system:node:$K8S_NODE_NAME" clientAuth
	issue_cert "node-$K8S_NODE_NAME-serving" "/CN=$K8S_NODE_NAME" serverAuth "IP:$K8S_NODE_IP,DNS:$K8S_NODE_NAME"
	issue_cert kube-proxy "/CN=system:kube-proxy" clientAuth
	write_kubeconfig_for "$CONF/kubelet.kubeconfig" "node-$K8S_NODE_NAME-kubelet"
	write_kubeconfig_for "$CONF/kube-proxy.kubeconfig" kube-proxy
}

write_containerd_config() {
	local state=$K8S_NODE_STATE_DIR/containerd
	cat >"$CONF/containerd.toml" <<-EOF
		# Written by scripts/k8s/node.sh on every start. Every path is this node's own;
		# nothing is read from /etc/containerd.
		version = 4
		root = "$CONTAINERD_ROOT"
		state = "$state"
		imports = []
		# Not used here. NRI would open a socket under /var/run/nri, the image verifier
		# read /opt/containerd.
		disabled_plugins = [
		  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
		  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.erofs",
		  "io.containerd.snapshotter.v1.blockfile", "io.containerd.differ.v1.erofs",
		  "io.containerd.mount-handler.v1.erofs", "io.containerd.nri.v1.nri",
		  "io.containerd.image-verifier.v1.bindir", "io.containerd.tracing.processor.v1.otlp",
		  "io.containerd.internal.v1.tracing",
		]

		[plugins.'io.containerd.server.v1.grpc']
		  address = "$CONTAINERD_SOCK"
		[plugins.'io.containerd.server.v1.ttrpc']
		  address = "$CONTAINERD_SOCK.ttrpc"
		[plugins.'io.containerd.server.v1.debug']
		  address = ""
		[plugins.'io.containerd.server.v1.metrics']
		  address = ""
		# The shims' sockets (by default under /run/containerd/s).
		[plugins.'io.containerd.shim.v1.manager']
		  socket_dir = "$state/s"
		[plugins.'io.containerd.internal.v1.opt']
		  path = "$CONTAINERD_ROOT/opt"

		[plugins.'io.containerd.cri.v1.images']
		  snapshotter = "overlayfs"
		  [plugins.'io.containerd.cri.v1.images'.pinned_images]
		    sandbox = "$(pause_image)"

		[plugins.'io.containerd.cri.v1.runtime']
		  # This machine's capability bounding set lacks CAP_SYS_RESOURCE: without
		  # this, runc fails every sandbox writing oom_score_adj.
		  restrict_oom_score_adj = true
		  enable_selinux = false
		  # The pods' network namespaces under the state directory, not /run/netns.
		  netns_mounts_under_state_dir = true
		  [plugins.'io.containerd.cri.v1.runtime'.containerd]
		    default_runtime_name = "runc"
		    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
		        BinaryName = "$RUNC"
		        # runc's own state (by default /run/containerd/runc).
		        Root = "$state/runc"
		        SystemdCgroup = false
		  [plugins.'io.containerd.cri.v1.runtime'.cni]
		    bin_dirs = ["$CNI_BIN_DIR"]
		    conf_dir = "$CNI_CONF_DIR"
		    max_conf_num = 1

		[plugins.'io.containerd.grpc.v1.cri']
		  disable_tcp_service = true
		  # exec/attach/port-forward streams, proxied by the kubelet: loopback only.
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "0"
	EOF
}

write_kubelet_config() {
	# Pods with dnsPolicy Default get this file: cluster DNS, like everyone else;
	# never the machine's own resolvers.
	printf 'nameserver %s\n' "$K8S_DNS_SERVICE_IP" >"$CONF/resolv.conf"
	cat >"$CONF/kubelet.yaml" <<-EOF
		# Written by scripts/k8s/node.sh on every start.
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		# The API on the bridge address (the apiserver's logs/exec/port-forward come
		# there), health on loopback, no read-only port.
		address: $K8S_NODE_IP
		port: $K8S_KUBELET_PORT
		healthzBindAddress: 127.0.0.1
		healthzPort: $K8S_KUBELET_HEALTHZ_PORT
		readOnlyPort: 0
		tlsCertFile: $NODE_PKI_DIR/node-$K8S_NODE_NAME-serving.crt
		tlsPrivateKeyFile: $NODE_PKI_DIR/node-$K8S_NODE_NAME-serving.key
		authentication:
		  anonymous: { enabled: false }
		  webhook: { enabled: true }
		  x509: { clientCAFile: $NODE_PKI_DIR/ca.crt }
		authorization: { mode: Webhook }
		containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
		# cgroup v1 on this machine, which the kubelet no longer supports by default.
		failCgroupV1: false
		failSwapOn: false
		cgroupDriver: cgroupfs
		cgroupRoot: /$K8S_CGROUP_PARENT
		podLogsDir: $POD_LOGS
		volumePluginDir: $KUBELET_ROOT/volume-plugins
		clusterDomain: cluster.local
		clusterDNS: [$K8S_DNS_SERVICE_IP]
		resolvConf: $CONF/resolv.conf
		registerWithTaints:
		  - { key: shop.example/real-node, value: "true", effect: NoSchedule }
		# Imported images can never be pulled again: no image garbage collection.
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
		# Graceful node shutdown talks to systemd-logind, which this machine has not.
		shutdownGracePeriod: 0s
		shutdownGracePeriodCriticalPods: 0s
		serializeImagePulls: false
		maxPods: 110
		containerLogMaxSize: 10Mi
		nodeStatusUpdateFrequency: 10s
	EOF
}

write_kube_proxy_config() {
	cat >"$CONF/kube-proxy.yaml" <<-EOF
		# Written by scripts/k8s/node.sh on every start.
		apiVersion: kubeproxy.config.k8s.io/v1alpha1
		kind: KubeProxyConfiguration
		clientConnection: { kubeconfig: $CONF/kube-proxy.kubeconfig }
		hostnameOverride: $K8S_NODE_NAME
		mode: iptables
		clusterCIDR: $K8S_NODE_POD_CIDR
		bindAddress: 127.0.0.1
		healthzBindAddress: 127.0.0.1:$K8S_PROXY_HEALTHZ_PORT
		metricsBindAddress: 127.0.0.1:$K8S_PROXY_METRICS_PORT
		# NodePorts only on the bridge address, and none on 127.0.0.1 (that would
		# need route_localnet on the whole machine).
		nodePortAddresses: [$K8S_NODE_IP/32]
		iptables: { localhostNodePorts: false, minSyncPeriod: 0s, syncPeriod: 30s }
		# Leave the machine's conntrack settings alone.
		conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
	EOF
}

write_corefile() {
	cat >"$CONF/Corefile" <<-EOF
		# Written by scripts/k8s/node.sh. cluster.local from the API server; every
		# other name is refused, never forwarded (the network rule).
		cluster.local:$K8S_DNS_PORT in-addr.arpa:$K8S_DNS_PORT ip6.arpa:$K8S_DNS_PORT {
		  bind $K8S_NODE_IP
		  errors
		  kubernetes cluster.local in-addr.arpa ip6.arpa {
		    kubeconfig $KUBECONFIG_FILE shop-local
		    pods insecure
		    fallthrough in-addr.arpa ip6.arpa
		  }
		  cache 5
		  loadbalance
		}
		.:$K8S_DNS_PORT {
		  bind $K8S_NODE_IP
		  errors
		}
	EOF
}

# --- the sandbox image ------------------------------------------------------------------

pause_image() { printf 'localhost/shop-pause:%s' "$(basename "$(dirname "$PAUSE")" | sed 's/^pause-//')"; }

# An OCI image layout holding only the pause binary, made with tar and sha256sum
# (no image builder needed), imported into containerd's CRI namespace once.
import_pause_image() {
	local name
	name=$(pause_image)
	if [[ $'\n'"$(ctr_k8s images ls -q)"$'\n' == *$'\n'"$name"$'\n'* ]]; then return 0; fi
	local work
	work=$(mktemp -d)
	mkdir -p "$work/root" "$work/oci/blobs/sha256"
	install -m 0755 "$PAUSE" "$work/root/pause"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/root" -cf "$work/layer.tar" pause
	local layer layer_size config config_size manifest manifest_size
	layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
	layer_size=$(stat -c %s "$work/layer.tar")
	mv "$work/layer.tar" "$work/oci/blobs/sha256/$layer"
	printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$layer" >"$work/config.json"
	config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
	config_size=$(stat -c %s "$work/config.json")
	mv "$work/config.json" "$work/oci/blobs/sha256/$config"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
		"$config" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
	manifest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
	manifest_size=$(stat -c %s "$work/manifest.json")
	mv "$work/manifest.json" "$work/oci/blobs/sha256/$manifest"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s"}}]}' \
		"$manifest" "$manifest_size" "$name" >"$work/oci/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
	tar -C "$work/oci" -cf "$work/pause.tar" .
	ctr_k8s images import --no-unpack=false "$work/pause.tar" >/dev/null
	rm -rf "$work"
	k8s_log "sandbox image $name imported"
}

# ctr in the CRI's namespace. containerd warns on every call that cgroup v1 is
# deprecated (versions.env says why it is used anyway); that line is dropped.
ctr_k8s() {
	local status=0 err
	err=$(mktemp)
	"$CTR" --address "$CONTAINERD_SOCK" --namespace k8s.io "$@" 2>"$err" || status=$?
	grep -v 'cgroup v1 is deprecated' "$err" >&2 || true
	rm -f "$err"
	return "$status"
}

# --- start ---------------------------------------------------------------------------

# cgroup_dirs: the node's cgroup parent in every mounted hierarchy (the v1 ones,
# and the v2 one that runc also uses on a hybrid machine like this).
cgroup_dirs() {
	local mount
	for mount in $(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts); do
		printf '%s/%s\n' "$mount" "$K8S_CGROUP_PARENT"
	done
}

make_cgroups() {
	local dir
	for dir in $(cgroup_dirs); do
		[[ -d $dir ]] && continue
		record cgroup "$dir"
		mkdir "$dir"
		# A new v1 cpuset has no CPUs or memory nodes until given its parent's.
		if [[ -f $dir/cpuset.cpus ]]; then
			cat "$(dirname "$dir")/cpuset.cpus" >"$dir/cpuset.cpus"
			cat "$(dirname "$dir")/cpuset.mems" >"$dir/cpuset.mems"
		fi
	done
}

remember_machine_state() {
	local key dir
	grep -q '^sysctl net.ipv4.ip_forward ' "$LEDGER" 2>/dev/null || record sysctl net.ipv4.ip_forward "$(sysctl -n net.ipv4.ip_forward)"
	for key in "${KUBELET_SYSCTLS[@]}"; do
		grep -q "^sysctl $key " "$LEDGER" 2>/dev/null || record sysctl "$key" "$(sysctl -n "$key")"
	done
	for dir in "${SHARED_DIRS[@]}"; do
		[[ -e $dir ]] || grep -qx "dir $dir" "$LEDGER" 2>/dev/null || record dir "$dir"
	done
}

# start_relay NAME PORT: the bridge address's PORT forwarded to 127.0.0.1's, unless it runs.
start_relay() {
	live_pid "$1" >/dev/null && return 1
	start_component "$1" socat "TCP-LISTEN:$2,bind=$K8S_NODE_IP,reuseaddr,fork" "TCP:127.0.0.1:$2"
}

api_ready_node() {
	[[ "$(kc get node "$K8S_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

# Cluster DNS and the apiserver as the real node's pods see them: Services
# without selectors whose endpoints are this machine's bridge address, where
# CoreDNS and the apiserver relay listen.
publish_host_services() {
	kc apply -f - >/dev/null <<-EOF
		apiVersion: v1
		kind: Service
		metadata:
		  name: kube-dns
		  namespace: kube-system
		  labels: { k8s-app: kube-dns, kubernetes.io/name: CoreDNS }
		spec:
		  clusterIP: $K8S_DNS_SERVICE_IP
		  ports:
		    - { name: dns, port: 53, protocol: UDP, targetPort: $K8S_DNS_PORT }
		    - { name: dns-tcp, port: 53, protocol: TCP, targetPort: $K8S_DNS_PORT }
		---
		apiVersion: discovery.k8s.io/v1
		kind: EndpointSlice
		metadata:
		  name: kube-dns-$K8S_NODE_NAME
		  namespace: kube-system
		  labels:
		    kubernetes.io/service-name: kube-dns
		    endpointslice.kubernetes.io/managed-by: shop-node.sh
		addressType: IPv4
		endpoints:
		  - addresses: [$K8S_NODE_IP]
		    conditions: { ready: true }
		ports:
		  - { name: dns, port: $K8S_DNS_PORT, protocol: UDP }
		  - { name: dns-tcp, port: $K8S_DNS_PORT, protocol: TCP }
		---
		apiVersion: discovery.k8s.io/v1
		kind: EndpointSlice
		metadata:
		  name: kubernetes-$K8S_NODE_NAME
		  namespace: default
		  labels:
		    kubernetes.io/service-name: kubernetes
		    endpointslice.kubernetes.io/managed-by: shop-node.sh
		addressType: IPv4
		endpoints:
		  - addresses: [$K8S_NODE_IP]
		    conditions: { ready: true }
		ports:
		  - { name: https, port: $K8S_API_PORT, protocol: TCP }
	EOF
}

# A name CoreDNS must answer from the API server.
dns_answers() {
	node -e '
		const { Resolver } = require("node:dns").promises;
		const r = new Resolver({ timeout: 1000, tries: 1 });
		r.setServers([process.argv[1]]);
		r.resolve4("kubernetes.default.svc.cluster.local").then(
			(a) => process.exit(a.includes(process.argv[2]) ? 0 : 1), () => process.exit(1));
	' "$K8S_NODE_IP:$K8S_DNS_PORT" "$K8S_API_SERVICE_IP"
}

cmd_up() {
	need_root
	load_tools
	[[ -x ${KUBELET:-} && -x ${CONTAINERD:-} && -x ${COREDNS:-} ]] || k8s_die "the real node's binaries are not built: run make k8s-tools"
	cmd_guard
	local name start=$SECONDS started=0
	for name in "${NODE_COMPONENTS[@]}"; do clear_stale_pid "$name"; done
	live_pid kubelet >/dev/null || {
		check_port_free kubelet "$K8S_KUBELET_PORT" "$K8S_NODE_IP"
		check_port_free kubelet "$K8S_KUBELET_HEALTHZ_PORT"
	}
	live_pid kube-proxy >/dev/null || {
		check_port_free kube-proxy "$K8S_PROXY_HEALTHZ_PORT"
		check_port_free kube-proxy "$K8S_PROXY_METRICS_PORT"
	}
	live_pid coredns >/dev/null || check_port_free coredns "$K8S_DNS_PORT" "$K8S_NODE_IP"
	live_pid apiserver-relay >/dev/null || check_port_free apiserver-relay "$K8S_API_PORT" "$K8S_NODE_IP"
	live_pid postgres-relay >/dev/null || check_port_free postgres-relay "$K8S_HOST_PG_PORT" "$K8S_NODE_IP"
	live_pid kafka-relay >/dev/null || check_port_free kafka-relay "$K8S_HOST_KAFKA_PORT" "$K8S_NODE_IP"

	remember_machine_state
	make_cgroups
	mkdir -p "$CONF" "$CONTAINERD_ROOT" "$KUBELET_ROOT" "$POD_LOGS" "$K8S_NODE_STATE_DIR"
	make_node_pki
	write_containerd_config
	write_kubelet_config
	write_kube_proxy_config
	write_corefile

	if ! live_pid containerd >/dev/null; then
		# The shim is looked up on PATH. At normal priority whatever `make` was started
		# with (nice make k8s-up): every pod inherits containerd's niceness, and a
		# niced pod starved by the rest of the machine fails its startup probe.
		PATH="$(dirname "$CONTAINERD"):$PATH" start_component containerd "$CONTAINERD" --config "$CONF/containerd.toml"
		renice -n 0 -p "$(live_pid containerd)" >/dev/null
		started=1
	fi
	wait_for containerd "containerd's socket" ctr_k8s version
	import_pause_image
	if ! live_pid coredns >/dev/null; then
		start_component coredns "$COREDNS" -conf "$CONF/Corefile"
		started=1
	fi
	# The apiserver (the `kubernetes` Service), the host's Postgres and Kafka listen
	# on 127.0.0.1 only; the pods reach them on the bridge address through these.
	start_relay apiserver-relay "$K8S_API_PORT" && started=1
	start_relay postgres-relay "$K8S_HOST_PG_PORT" && started=1
	start_relay kafka-relay "$K8S_HOST_KAFKA_PORT" && started=1
	if ! live_pid kubelet >/dev/null; then
		start_component kubelet "$KUBELET" --config="$CONF/kubelet.yaml" --kubeconfig="$CONF/kubelet.kubeconfig" \
			--root-dir="$KUBELET_ROOT" --hostname-override="$K8S_NODE_NAME" --node-ip="$K8S_NODE_IP" \
			--node-labels="type=real,topology.kubernetes.io/region=local,topology.kubernetes.io/zone=zone-real"
		started=1
	fi
	if ! live_pid kube-proxy >/dev/null; then
		start_component kube-proxy "$KUBE_PROXY" --config="$CONF/kube-proxy.yaml"
		started=1
	fi
	wait_for kubelet "node $K8S_NODE_NAME Ready" api_ready_node
	publish_host_services
	wait_for coredns "cluster DNS answering on $K8S_NODE_IP:$K8S_DNS_PORT" dns_answers
	wait_for kube-proxy "kube-proxy /healthz" curl -fsS "http://127.0.0.1:$K8S_PROXY_HEALTHZ_PORT/healthz"
	if ((started)); then
		k8s_log "real node $K8S_NODE_NAME Ready in $(k8s_duration $((SECONDS - start))) (pods on $K8S_BRIDGE $K8S_NODE_POD_CIDR; taint shop.example/real-node, label type=real)"
	else
		k8s_log "real node $K8S_NODE_NAME already running"
	fi
}

# --- down -------------------------------------------------------------------------------

# remove_cgroup_tree DIR: kills what is left in DIR and below, then removes them deepest first.
remove_cgroup_tree() {
	local dir=$1 sub pid
	[[ $dir == /sys/fs/cgroup/*/"$K8S_CGROUP_PARENT" ]] || k8s_die "not this node's cgroup: $dir"
	[[ -d $dir ]] || return 0
	local i
	for ((i = 0; i < 20; i++)); do
		local left=0
		while read -r sub; do
			for pid in $(cat "$sub/cgroup.procs" 2>/dev/null); do
				kill -KILL "$pid" 2>/dev/null || true
				left=1
			done
		done < <(find "$dir" -depth -type d)
		((left)) || break
		sleep 0.2
	done
	find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	[[ ! -d $dir ]] || k8s_log "could not remove cgroup $dir"
}

# Mounts below DIR, deepest first.
mounts_under() { awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r; }

unmount_under() {
	local dir=$1 target i
	[[ -e $dir ]] || return 0
	for ((i = 0; i < 5; i++)); do
		local any=0
		while read -r target; do
			[[ -n $target ]] || continue
			any=1
			umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
		done < <(mounts_under "$dir")
		((any)) || return 0
	done
}

# What is left of this node's processes: containerd's shims (matched by their
# exact binary path), and whatever still runs in the node's own cgroups. Never
# anything else: a PID is only signalled when one of those two says it is ours.
kill_node_processes() {
	local shim=${CONTAINERD_SHIM:-} pid exe dir
	if [[ -n $shim ]]; then
		for pid in $(pgrep -f -- "$shim" || true); do
			exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
			[[ $exe == "$shim" ]] && kill -KILL "$pid" 2>/dev/null
		done
	fi
	for dir in $(cgroup_dirs); do
		[[ -d $dir ]] || continue
		for pid in $(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
	done
}

# Every KUBE-* chain (the kubelet's and kube-proxy's), and every rule that jumps to
# one, in every table of iptables and ip6tables. preflight made sure there were
# none before this node.
remove_kube_chains() {
	local tool table rule chain
	for tool in iptables ip6tables; do
		command -v "$tool" >/dev/null || continue
		for table in filter nat mangle raw; do
			"$tool-save" -t "$table" 2>/dev/null | grep '^:KUBE-' >/dev/null || continue
			while read -r rule; do
				# shellcheck disable=SC2086 # the rule is word-split as iptables-save wrote it
				eval "$tool -w -t $table ${rule/#-A/-D}" 2>/dev/null || true
			done < <("$tool-save" -t "$table" | grep -E '^-A [A-Z]+ .*-j KUBE-' | grep -vE '^-A KUBE-')
			for chain in $("$tool-save" -t "$table" | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p'); do
				"$tool" -w -t "$table" -F "$chain" 2>/dev/null || true
			done
			for chain in $("$tool-save" -t "$table" | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p'); do
				"$tool" -w -t "$table" -X "$chain" 2>/dev/null || true
			done
		done
	done
}

cmd_down() {
	[[ -s $LEDGER || -n "$(ls "$K8S_RUN_DIR"/{containerd,kubelet,kube-proxy,coredns,apiserver-relay,postgres-relay,kafka-relay}.pid 2>/dev/null)" ]] || {
		k8s_log "real node: nothing to remove"
		return 0
	}
	need_root
	[[ -f $K8S_TOOLS_ENV ]] && source "$K8S_TOOLS_ENV"
	# The kubelet first, so it restarts nothing; then every container's processes.
	stop_components kube-proxy kubelet kafka-relay postgres-relay apiserver-relay coredns
	if live_pid containerd >/dev/null; then
		local task
		for task in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
	fi
	stop_components containerd
	kill_node_processes
	# kube-proxy removes its own rules; the kubelet's chains go with the rest.
	[[ -x ${KUBE_PROXY:-} ]] && "$KUBE_PROXY" --cleanup >/dev/null 2>&1 || true
	remove_kube_chains
	unmount_under "$K8S_NODE_STATE_DIR"
	unmount_under "$KUBELET_ROOT"
	unmount_under "$CONTAINERD_ROOT"
	# The pods' veths went with their network namespaces; the IP leases and the rest of
	# the state (sockets, netns files) go with the state directory.
	rm -rf "$K8S_NODE_STATE_DIR" "$KUBELET_ROOT"
	local dir
	for dir in $(cgroup_dirs); do remove_cgroup_tree "$dir"; done
	if [[ -f $LEDGER ]]; then
		local -a lines
		mapfile -t lines <"$LEDGER"
		local i
		for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
			# shellcheck disable=SC2086 # a ledger line is words
			undo ${lines[i]}
		done
		rm -f "$LEDGER"
	fi
	rm -f /var/log/containers/*_"$K8S_NODE_NAME"* 2>/dev/null || true
	k8s_log "real node $K8S_NODE_NAME removed: containers, mounts, cgroups, KUBE-* chains, guard rules, routes, $K8S_BRIDGE, sysctls restored"
}

cmd_status() {
	local name pid
	for name in "${NODE_COMPONENTS[@]}"; do
		if pid=$(live_pid "$name"); then
			printf '  %-24s running  pid %s\n' "$name" "$pid"
		else
			printf '  %-24s stopped\n' "$name"
		fi
	done
}

cmd_import() {
	need_root
	load_tools
	live_pid containerd >/dev/null || k8s_die "the real node is not running (make k8s-up)"
	local archive
	for archive in "$@"; do
		k8s_log "importing $archive into $K8S_NODE_NAME"
		# Pinned: the kubelet's image garbage collection (disk pressure) never deletes them. Nothing
		# can pull them again here, and unpinned ones were deleted two minutes after their import
		# on a nearly full disk, before the pods that need them started.
		ctr_k8s images import --no-unpack=false --label io.cri-containerd.pinned=pinned "$archive" >/dev/null
	done
}

# What of this machine a node can change, normalised so that two snapshots of
# an unchanged machine are equal: links, addresses, routes, iptables and nft
# rules, mounts, cgroups, the sysctls it touches, its processes and listening
# sockets, and the directories its components may create. Other users' podman
# containers (their mounts, cgroups and /run entries) are left out.
cmd_footprint() {
	local tool
	echo "# links"
	ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort
	echo "# addresses"
	ip -o addr show | awk '{ print $2, $3, $4 }' | sort
	echo "# routes"
	ip route show table all | grep -v '^local \|^broadcast \|^multicast ' | sort
	ip -6 route show table all | grep -v '^local \|^multicast \|^anycast ' | sort
	echo "# rules"
	ip rule show | sort
	for tool in iptables ip6tables; do
		command -v "$tool-save" >/dev/null || continue
		echo "# $tool"
		"$tool-save" 2>/dev/null | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]$//' | grep -v 'CNI-\|cni' || true
	done
	if command -v nft >/dev/null; then
		echo "# nft tables"
		nft list tables 2>/dev/null | sort
	fi
	echo "# mounts"
	awk '{ print $5, $9 }' /proc/self/mountinfo | grep -v ' overlay$\|/var/lib/containers/\|/run/containers/\|/run/libpod\|/run/user/' | sort
	echo "# cgroups"
	find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d 2>/dev/null | grep -v 'libpod\|machine.slice\|/user.slice\|buildah-\|/process_api' | sort
	echo "# sysctls"
	for key in net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables "${KUBELET_SYSCTLS[@]}"; do
		printf '%s = %s\n' "$key" "$(sysctl -n "$key" 2>/dev/null)"
	done
	echo "# directories"
	ls -d /run/* /run/netns/* /var/lib/kubelet /var/lib/containerd /var/lib/cni /var/log/pods /var/log/containers \
		/etc/cni /etc/containerd /etc/kubernetes /opt/cni /opt/containerd /opt/nri /var/run/nri /usr/libexec/kubernetes 2>/dev/null |
		grep -v '^/run/containers\|^/run/libpod\|^/run/user\|^/run/crun\|^/run/lock\|^/run/podman' | sort
	echo "# processes"
	local pid exe
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
		case $exe in
		"$K8S_CACHE_DIR"/* | */socat | */runc | */pause) echo "$exe" ;;
		esac
	done | sort
	echo "# listening on the node's addresses and ports"
	ss -Hltnu 2>/dev/null | awk '{ print $1, $5 }' | grep -E "^[a-z]+ ($K8S_NODE_IP:|.*:($K8S_KUBELET_PORT|$K8S_KUBELET_HEALTHZ_PORT|$K8S_PROXY_HEALTHZ_PORT|$K8S_PROXY_METRICS_PORT)\$)" | sort || true
}

case "${1:-}" in
guard) cmd_guard ;;
check) cmd_check ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
import)
	shift
	cmd_import "$@"
	;;
footprint) cmd_footprint ;;
*)
	sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
