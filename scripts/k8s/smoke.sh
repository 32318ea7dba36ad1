#!/usr/bin/env bash
# Smoke check of the local control plane (`scripts/k8s.sh selftest`): proves the
# parts the blue-green CLI and the Helm chart rely on, end to end, in a
# throw-away namespace. Starts the control plane first if needed.
#
# It only ever talks to the apiserver on 127.0.0.1. Pod and Service IPs are
# fake and compared as strings; nothing connects to them, and nothing uses
# logs/exec/port-forward or the /proxy/ subresources.
set -euo pipefail
# shellcheck source=scripts/k8s/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$K8S_SCRIPTS_DIR/cluster.sh" up >/dev/null
# shellcheck source=/dev/null
source "$K8S_TOOLS_ENV"
export KUBECONFIG=$K8S_RUN_DIR/kubeconfig
NS=k8s-selftest-$$
WORK=$(mktemp -d)
kc() { "$KUBECTL" -n "$NS" "$@"; }
PASSED=0
FAILED=0

cleanup() {
	"$KUBECTL" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

ok() {
	PASSED=$((PASSED + 1))
	k8s_log "ok: $*"
}
fail() {
	FAILED=$((FAILED + 1))
	k8s_log "FAIL: $*"
}

# eventually SECONDS DESCRIPTION COMMAND...: retries COMMAND once a second
# (controllers converge asynchronously), then records ok or FAIL.
eventually() {
	local timeout=$1 what=$2
	shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			fail "$what (not within ${timeout}s)"
			return 0
		fi
		sleep 1
	done
	ok "$what"
}

# A Deployment of N replicas of IMAGE, labelled app=web,track=TRACK. The image
# is never pulled (kwok runs no containers); its name picks the kwok behaviour.
deployment() {
	local name=$1 track=$2 image=$3 replicas=$4
	cat <<-EOF
		apiVersion: apps/v1
		kind: Deployment
		metadata: {name: $name, labels: {app: web, track: $track}}
		spec:
		  replicas: $replicas
		  progressDeadlineSeconds: 30
		  selector: {matchLabels: {app: web, track: $track}}
		  template:
		    metadata: {labels: {app: web, track: $track}}
		    spec:
		      containers:
		      - name: web
		        image: $image
		        ports: [{containerPort: 8080}]
	EOF
}

# Sorted IPs of the Ready pods with a given track, and of the ready endpoints
# in the Service's EndpointSlices.
ready_pod_ips() {
	kc get pods -l "app=web,track=$1" \
		-o jsonpath='{range .items[*]}{.status.podIP}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
		awk '$2 == "True" {print $1}' | sort
}
slice_ips() {
	kc get endpointslices -l kubernetes.io/service-name=web \
		-o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\n"}{end}' | sort
}
slices_match_track() {
	local want got
	want=$(ready_pod_ips "$1")
	got=$(slice_ips)
	[[ -n $want && $(wc -l <<<"$want") -eq $2 && $want == "$got" ]]
}

start=$SECONDS
"$KUBECTL" create namespace "$NS" >/dev/null
# The ServiceAccount admission plugin needs the namespace's default SA first.
eventually 30 "namespace $NS has its default ServiceAccount" kc get serviceaccount default

# Server version: the -X ldflags made it into the build (Helm relies on it).
server_version=$("$KUBECTL" version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -n1)
if [[ $server_version == "$K8S_VERSION" ]]; then ok "server reports $server_version"; else fail "server reports '$server_version', want $K8S_VERSION"; fi

# 1. Deployment -> ReplicaSet -> scheduled, Ready pods -> Available.
deployment web-blue blue example.invalid/web:blue 2 | kc apply -f - >/dev/null
kc apply -f - >/dev/null <<-EOF
	apiVersion: v1
	kind: Service
	metadata: {name: web}
	spec:
	  selector: {app: web, track: blue}
	  ports: [{port: 80, targetPort: 8080}]
EOF
if kc wait --for=condition=Available deployment/web-blue --timeout=60s >/dev/null; then ok "deployment web-blue Available"; else fail "deployment web-blue not Available"; fi
nodes=$(kc get pods -l track=blue -o jsonpath='{.items[*].spec.nodeName}')
if [[ $nodes == *kwok-node-* ]]; then ok "pods scheduled onto kwok nodes ($nodes)"; else fail "pods not scheduled: '$nodes'"; fi

# 2. EndpointSlices list exactly the ready pod IPs.
eventually 30 "EndpointSlices of web list exactly the 2 ready blue pod IPs" slices_match_track blue 2

# 3. Blue-green switch: a second Deployment, then the Service selector moves.
deployment web-green green example.invalid/web:green 2 | kc apply -f - >/dev/null
if kc wait --for=condition=Available deployment/web-green --timeout=60s >/dev/null; then ok "deployment web-green Available"; else fail "deployment web-green not Available"; fi
kc patch service web --type=merge -p '{"spec":{"selector":{"app":"web","track":"green"}}}' >/dev/null
eventually 30 "EndpointSlices follow the selector to the 2 green pod IPs" slices_match_track green 2

# 4. A rollout that never becomes ready: pods Running, not Ready, never Available.
deployment web-stuck stuck example.invalid/web:never-ready 1 | kc apply -f - >/dev/null
stuck_running() { [[ $(kc get pods -l track=stuck -o jsonpath='{.items[*].status.phase}') == Running ]]; }
eventually 30 "never-ready pod is Running" stuck_running
sleep 3
stuck=$(kc get pods -l track=stuck -o jsonpath='{.items[0].status.conditions[?(@.type=="Ready")].status}/{.items[0].status.containerStatuses[0].ready}')
avail=$(kc get deployment web-stuck -o jsonpath='{.status.availableReplicas}')
if [[ $stuck == False/false && ${avail:-0} == 0 ]]; then ok "never-ready pod stays not Ready; deployment has 0 available"; else fail "never-ready: Ready/containerReady=$stuck available=$avail"; fi
if kc rollout status deployment/web-stuck --timeout=5s >/dev/null 2>&1; then fail "rollout status of never-ready succeeded"; else ok "rollout status of never-ready times out"; fi

# 5. A crash-looping rollout: CrashLoopBackOff with a growing restartCount.
deployment web-crash crash example.invalid/web:crashloop 1 | kc apply -f - >/dev/null
crashlooping() {
	local s
	s=$(kc get pods -l track=crash -o jsonpath='{.items[0].status.containerStatuses[0].state.waiting.reason} {.items[0].status.containerStatuses[0].restartCount}')
	[[ ${s% *} == CrashLoopBackOff && ${s#* } -ge 3 ]]
}
eventually 30 "crashloop pod in CrashLoopBackOff with restartCount >= 3" crashlooping

# 6. Jobs complete, and a container that exits 1 fails its pod.
kc create job finishes --image=example.invalid/job:ok >/dev/null
if kc wait --for=condition=Complete job/finishes --timeout=60s >/dev/null; then ok "job completes"; else fail "job did not complete"; fi
kc run exits --image=example.invalid/tool:exit-1 --restart=Never >/dev/null
pod_failed() { [[ $(kc get pod exits -o jsonpath='{.status.phase}/{.status.containerStatuses[0].state.terminated.exitCode}') == Failed/1 ]]; }
eventually 30 "bare pod with an exit-1 image fails with exit code 1" pod_failed

# 7. Server-side dry run validates against the real API schema.
if deployment dry blue example.invalid/web:blue 1 | kc apply --dry-run=server -f - >/dev/null &&
	! kc get deployment dry >/dev/null 2>&1; then
	ok "kubectl apply --dry-run=server accepts a valid manifest and creates nothing"
else
	fail "kubectl apply --dry-run=server"
fi
if deployment dry blue example.invalid/web:blue 1 | sed 's/replicas:/replicaz:/' |
	kc apply --dry-run=server --validate=strict -f - >/dev/null 2>&1; then
	fail "--dry-run=server --validate=strict accepted an unknown field"
else
	ok "--dry-run=server --validate=strict rejects an unknown field"
fi

# 8. Helm: install a trivial chart with --wait, then `helm test` (its test hook
# pod is completed by the shop-pod-complete kwok stage; no --logs, which would
# read container logs through the apiserver).
"$HELM" create "$WORK/hello" >/dev/null
if "$HELM" install hello "$WORK/hello" -n "$NS" --wait --timeout 90s >/dev/null; then ok "helm install --wait"; else fail "helm install --wait"; fi
if "$HELM" test hello -n "$NS" --timeout 60s >"$WORK/helm-test.txt" 2>&1 && grep -q 'Phase:.*Succeeded' "$WORK/helm-test.txt"; then
	ok "helm test (hook pod Succeeded)"
else
	fail "helm test: $(tr '\n' ' ' <"$WORK/helm-test.txt")"
fi
# Offline rendering assumes the Kubernetes minor helm was linked against (the
# -X ldflags), not Helm 3's built-in default of v1.20.
printf 'kind: ConfigMap\napiVersion: v1\nmetadata: {name: kube-version}\ndata: {v: "{{ .Capabilities.KubeVersion.Version }}"}\n' \
	>"$WORK/hello/templates/kube-version.yaml"
helm_kube=$("$HELM" template hello "$WORK/hello" --show-only templates/kube-version.yaml | sed -n 's/.*v: "\(.*\)".*/\1/p')
if [[ $helm_kube == "v1.$(cut -d. -f2 <<<"$K8S_VERSION").0" ]]; then ok "helm template assumes Kubernetes $helm_kube"; else fail "helm template assumes Kubernetes '$helm_kube'"; fi

# 9. Static lint of a rendered manifest. kube-score exits 1 when it has findings
# (helm create's default chart has some: no resource limits, ...); anything
# else non-zero means it did not run.
"$HELM" template hello "$WORK/hello" >"$WORK/rendered.yaml"
set +e
"$KUBE_SCORE" score "$WORK/rendered.yaml" >"$WORK/kube-score.txt" 2>&1
rc=$?
set -e
if [[ $rc -le 1 ]] && grep -q 'apps/v1/Deployment hello' "$WORK/kube-score.txt"; then
	ok "kube-score lints the rendered chart (exit $rc, $(grep -c 'CRITICAL' "$WORK/kube-score.txt") critical findings)"
else
	fail "kube-score exit $rc: $(head -c 400 "$WORK/kube-score.txt")"
fi

k8s_log "selftest took $(k8s_duration $((SECONDS - start)))"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
