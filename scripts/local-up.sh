#!/usr/bin/env bash
# `make up` / `make down` on a machine without Docker: the whole shop in real
# pods on the local cluster's real node (scripts/k8s.sh: a real API server and
# a kubelet on containerd), against this machine's own Postgres and Kafka.
#
#   scripts/local-up.sh up     install what is missing; start Postgres and Kafka
#                              (make infra-up) and the local cluster (make k8s-up)
#                              unless they run; build the images with buildah and
#                              import them into the node's containerd; a database
#                              per service for the release; helm upgrade --install
#                              with values-real-node.yaml (--wait); the gateway on
#                              127.0.0.1; `helm test` (the smoke suite in a pod);
#                              then prints KUBECONFIG=, GATEWAY_URL= and the admin
#                              credentials, each on its own line
#   scripts/local-up.sh down   uninstall the release and delete its namespace and
#                              databases; stop the gateway relay, and the cluster and
#                              the infrastructure if `up` started them
#
# The steps on their own, for the real-node tests (deploy/node/test), with the
# infrastructure and the cluster already up:
#   scripts/local-up.sh images                  build and import the images; prints the tag
#   scripts/local-up.sh install [helm args...]  databases, then helm upgrade --install
#   scripts/local-up.sh uninstall               helm uninstall, namespace, databases
#
# Why the host's Postgres and Kafka (the chart's external mode) rather than the
# chart's own: their official images cannot be pulled here, the host's are what
# the project's scripts install and every other tier tests against, and they cost
# no image build. The pods reach them on the node's bridge address (node.sh's
# relays; Kafka through its listener for the node).
#
# Environment: SHOP_RELEASE (shop), SHOP_NAMESPACE (shop), SHOP_UP_GATEWAY_PORT
# (18080: where the gateway answers on 127.0.0.1), SEED_ADMIN_EMAIL and
# SEED_ADMIN_PASSWORD (as make dev), SHOP_HELM_TIMEOUT (10m), SHOP_SKIP_HELM_TEST=1,
# and the ports of make infra-up and make k8s-up.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/postgres.sh
source "$here/lib/postgres.sh"
# shellcheck source=scripts/lib/containers.sh
source "$here/lib/containers.sh"
# shellcheck source=scripts/k8s/lib.sh
source "$here/k8s/lib.sh"

RELEASE=${SHOP_RELEASE:-shop}
NAMESPACE=${SHOP_NAMESPACE:-shop}
GATEWAY_PORT=${SHOP_UP_GATEWAY_PORT:-18080}
HELM_TIMEOUT=${SHOP_HELM_TIMEOUT:-10m}
ADMIN_EMAIL=${SEED_ADMIN_EMAIL:-admin@shop.local}
ADMIN_PASSWORD=${SEED_ADMIN_PASSWORD:-admin-password-change-me}
CHART=$SHOP_ROOT/deploy/helm/shop
# What `up` started, so that `down` stops exactly that.
STATE=$SHOP_RUN_DIR/local-up.state
# Deployables with an image (the order of the Dockerfile's targets does not matter).
# shellcheck source=scripts/lib/system.sh
source "$here/lib/system.sh"
IMAGES=("${SYSTEM_SERVICES[@]}" smoke load)
COLOR_SERVICES=("${SYSTEM_COLORED_SERVICES[@]}")
DB_SERVICES=("${SYSTEM_DATABASE_SERVICES[@]}")
# The release's databases and topics: its own, beside make dev's and the tests'.
DB_PREFIX=${RELEASE//-/_}_k8s
TOPIC_PREFIX=$RELEASE.k8s.

started() { grep -qx "$1" "$STATE" 2>/dev/null; }
mark_started() { started "$1" || echo "$1" >>"$STATE"; }

helm_() { "$HELM" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

ensure_infra() {
	if "$here/infra.sh" status >/dev/null 2>&1; then
		# A broker started before it had the real node's listener: the pods could not reach it.
		if ! grep -q "NODE://" "$SHOP_RUN_DIR/kafka/server.properties" 2>/dev/null; then
			log_warn "Kafka runs without the listener for the real node's pods; restarting the infrastructure"
			"$here/infra.sh" down
			"$here/infra.sh" up
		fi
		log_ok "Postgres and Kafka already run (make infra-up)"
	else
		mark_started infra
		"$here/infra.sh" up
	fi
}

ensure_cluster() {
	"$here/k8s.sh" tools
	if "$here/k8s.sh" running; then
		"$here/k8s.sh" up >/dev/null
	else
		mark_started k8s
		"$here/k8s.sh" up >/dev/null
	fi
	load_tools
}

# Builds every image (buildah; cached layers make a rebuild quick) and imports into
# the node's containerd those it does not have in this very build: the image IDs
# imported are kept beside the node's images, since a "-dirty" tag names every
# build from an edited tree.
images() {
	local tag=$1 image id missing=() archive
	local imported=$K8S_NODE_DATA_DIR/imported-images
	"$here/images.sh" build "${IMAGES[@]}"
	local have
	have=$("$CTR" --address "$K8S_NODE_STATE_DIR/containerd.sock" -n k8s.io images ls -q 2>/dev/null)
	for image in "${IMAGES[@]}"; do
		image=localhost/shop-$image:$tag
		id=$(podman image inspect --format '{{.Id}}' "$image")
		if ! grep -qx "$image" <<<"$have" || ! grep -qx "$image $id" "$imported" 2>/dev/null; then
			missing+=("$image")
		fi
	done
	((${#missing[@]})) || {
		log_ok "the node has every image (tag $tag)"
		return 0
	}
	archive=$(mktemp "$SHOP_RUN_DIR/images.XXXXXX.tar")
	log_info "importing ${#missing[@]} images into the node's containerd"
	podman save --format docker-archive -m -o "$archive" "${missing[@]}" >/dev/null
	"$K8S_SCRIPTS_DIR/node.sh" import "$archive"
	rm -f "$archive"
	for image in "${missing[@]}"; do
		id=$(podman image inspect --format '{{.Id}}' "$image")
		{
			grep -v "^$image " "$imported" 2>/dev/null || true
			echo "$image $id"
		} >"$imported.tmp"
		mv "$imported.tmp" "$imported"
	done
}

create_databases() {
	local svc
	for svc in "${DB_SERVICES[@]}"; do
		[[ "$(pg_psql -tAc "SELECT 1 FROM pg_database WHERE datname = '${DB_PREFIX}_$svc'")" == 1 ]] ||
			pg_psql -c "CREATE DATABASE ${DB_PREFIX}_$svc OWNER $svc" >/dev/null
	done
}

install_chart() {
	local tag=$1 svc args=()
	shift
	for svc in "${COLOR_SERVICES[@]}"; do
		# What was just built runs in both colors, as with kind; blue-green itself is
		# `bluegreen deploy`'s.
		args+=(--set "services.$svc.colors.blue.image=localhost/shop-$svc:$tag")
		args+=(--set "services.$svc.colors.green.image=localhost/shop-$svc:$tag")
	done
	for svc in "${DB_SERVICES[@]}"; do
		args+=(--set "services.$svc.database.url=postgresql://$svc:$svc@$K8S_NODE_IP:$K8S_HOST_PG_PORT/${DB_PREFIX}_$svc")
	done
	log_info "helm upgrade --install $RELEASE (namespace $NAMESPACE, image tag $tag)"
	helm_ upgrade --install "$RELEASE" "$CHART" -n "$NAMESPACE" --create-namespace \
		-f "$CHART/values-real-node.yaml" \
		--set image.registry=localhost/ --set "image.tag=$tag" \
		--set "kafka.brokers=$K8S_NODE_IP:$K8S_HOST_KAFKA_PORT" --set "kafka.topicPrefix=$TOPIC_PREFIX" \
		--set-string "seed.admin.email=$ADMIN_EMAIL" --set-string "seed.admin.password=$ADMIN_PASSWORD" \
		"${args[@]}" "$@" --wait --timeout "$HELM_TIMEOUT" >/dev/null
}

# 127.0.0.1:GATEWAY_PORT -> the gateway's ClusterIP: what a browser or curl here
# reaches goes the way any client in the cluster would, through kube-proxy.
gateway_relay() {
	local ip pid
	ip=$(kc -n "$NAMESPACE" get service "$RELEASE-gateway" -o jsonpath='{.spec.clusterIP}')
	if pid=$(live_pid gateway-relay) && grep -q "TCP:$ip:8080" "/proc/$pid/cmdline" 2>/dev/null; then return 0; fi
	stop_components gateway-relay
	check_port_free gateway-relay "$GATEWAY_PORT"
	start_component gateway-relay socat "TCP-LISTEN:$GATEWAY_PORT,bind=127.0.0.1,reuseaddr,fork" "TCP:$ip:8080"
	mark_started gateway-relay
	wait_for gateway-relay "the gateway at http://127.0.0.1:$GATEWAY_PORT/health/ready" \
		curl -fsS "http://127.0.0.1:$GATEWAY_PORT/health/ready"
}

cmd_up() {
	local t0 tag
	t0=$(now_ms)
	"$here/bootstrap.sh"
	ensure_run_dirs
	ensure_infra
	ensure_cluster
	tag=$("$here/images.sh" tag)
	images "$tag"
	create_databases
	install_chart "$tag"
	gateway_relay
	if [[ ${SHOP_SKIP_HELM_TEST:-0} != 1 ]]; then
		log_info "helm test $RELEASE (the smoke suite in a pod, through the Services and cluster DNS)"
		helm_ test "$RELEASE" -n "$NAMESPACE" --logs --timeout "$HELM_TIMEOUT"
	fi
	log_ok "the shop runs on the real node $K8S_NODE_NAME in $(elapsed_since "$t0") (kubectl -n $NAMESPACE get pods -o wide)"
	echo "KUBECONFIG=$KUBECONFIG_FILE"
	echo "GATEWAY_URL=http://127.0.0.1:$GATEWAY_PORT"
	echo "SEED_ADMIN_EMAIL=$ADMIN_EMAIL"
	echo "SEED_ADMIN_PASSWORD=$ADMIN_PASSWORD"
}

uninstall() {
	if [[ -f $K8S_TOOLS_ENV ]] && "$here/k8s.sh" running; then
		load_tools
		if helm_ status "$RELEASE" -n "$NAMESPACE" >/dev/null 2>&1; then
			log_info "helm uninstall $RELEASE"
			helm_ uninstall "$RELEASE" -n "$NAMESPACE" --wait --timeout "$HELM_TIMEOUT" >/dev/null
		fi
		kc delete namespace "$NAMESPACE" --ignore-not-found --wait=true >/dev/null
	fi
	if "$here/infra.sh" status >/dev/null 2>&1; then
		local svc
		for svc in "${DB_SERVICES[@]}"; do
			PGOPTIONS="-c client_min_messages=warning" pg_psql -c "DROP DATABASE IF EXISTS ${DB_PREFIX}_$svc WITH (FORCE)" >/dev/null
		done
	fi
}

cmd_down() {
	uninstall
	stop_components gateway-relay
	if started k8s; then "$here/k8s.sh" down; fi
	if started infra; then "$here/infra.sh" down; fi
	rm -f "$STATE"
	log_ok "down: the release $RELEASE and what make up started are gone"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
images)
	load_tools
	tag=$("$here/images.sh" tag)
	images "$tag" >&2
	echo "$tag"
	;;
install)
	shift
	load_tools
	create_databases
	install_chart "$("$here/images.sh" tag)" "$@"
	;;
uninstall) uninstall ;;
*)
	sed -n '2,36p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
