# The front door: every routine action is a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# The project's Node (.node-version) first: scripts/bootstrap.sh fetches it into
# the cache when the machine's own Node is older; until then the directory does
# not exist and the machine's Node answers.
SHOP_CACHE_DIR ?= $(HOME)/.cache/shop
NODE_VERSION := $(patsubst v%,%,$(strip $(file <$(CURDIR)/.node-version)))
export PATH := $(CURDIR)/node_modules/.bin:$(SHOP_CACHE_DIR)/node/$(NODE_VERSION)/bin:$(PATH)

.PHONY: help
help: ## List every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install the pinned Node (when the machine's is older), npm dependencies and system packages (idempotent)
	@scripts/bootstrap.sh

.PHONY: lint
lint: install ## Lint and check formatting (Biome)
	biome check .

.PHONY: format
format: install ## Format every file in place (Biome)
	biome check --write .

.PHONY: typecheck
typecheck: install ## Type-check the whole workspace (tsc, strict)
	tsc -p tsconfig.json --noEmit

.PHONY: test-unit
test-unit: install ## Run the unit tests (no infrastructure needed)
	vitest run --project unit

.PHONY: test-integration
test-integration: install infra-up ## Run the integration tests against the real Postgres and Kafka
	vitest run --project integration

.PHONY: fuzz
fuzz: install infra-up ## Fuzz the whole API through the gateway with schemathesis (docs/api-fuzzing.md)
	vitest run --project fuzz

.PHONY: test-bluegreen
test-bluegreen: install k8s-up ## Run the bluegreen CLI's tests: unit, and against the local control plane
	vitest run --project unit tools/bluegreen
	vitest run --project bluegreen

.PHONY: test
test: ## Run everything CI runs: lint, type-check and every test tier
	@scripts/test-all.sh

.PHONY: infra-up
infra-up: ## Start Postgres and Kafka on 127.0.0.1 (installs them on first use)
	@scripts/infra.sh up

.PHONY: infra-down
infra-down: ## Stop Postgres and Kafka started by infra-up
	@scripts/infra.sh down

.PHONY: infra-status
infra-status: ## Show whether Postgres and Kafka are running, and where
	@scripts/infra.sh status

.PHONY: dev
dev: install infra-up jaeger ## Run the whole system on this machine with its trace viewer, no Docker needed
	@scripts/dev.sh

.PHONY: jaeger
jaeger: ## Build the trace viewer make dev runs (Jaeger v2 from the Go module proxy; cached, seconds when warm)
	@scripts/jaeger.sh build

.PHONY: k8s-tools
k8s-tools: ## Build the Kubernetes binaries (etcd, apiserver, ..., kwok, helm, kubelet, containerd, CoreDNS) into the cache
	@scripts/k8s.sh tools

.PHONY: k8s-up
k8s-up: k8s-tools ## Start the local cluster: control plane, kwok nodes and a real node (kubelet, containerd, CNI, DNS; root)
	@scripts/k8s.sh up

.PHONY: k8s-down
k8s-down: ## Stop the local cluster started by k8s-up, and remove everything its real node added to the machine
	@scripts/k8s.sh down

.PHONY: k8s-status
k8s-status: ## Show whether the local control plane is running and where its kubeconfig is
	@scripts/k8s.sh status

.PHONY: test-k8s
test-k8s: install ## Test the Helm chart on the local control plane (started if needed): lint, install, upgrades, blue-green state, helm test
	@scripts/test-k8s.sh

.PHONY: helm-lint
helm-lint: install ## Lint the Helm chart without a cluster: helm lint --strict, helm template, kube-score, the values schema
	@scripts/test-k8s.sh lint

.PHONY: up
up: ## Run the whole shop on Kubernetes: kind with Docker, else real pods on the local cluster's node (prints GATEWAY_URL)
	@scripts/up.sh up

.PHONY: down
down: ## Stop everything `make up` started (the kind cluster, or the release, cluster and infrastructure)
	@scripts/up.sh down

.PHONY: images-base
images-base: ## Build the local Node base image (debootstrap + Node from npm, buildah; cached, seconds when warm)
	@scripts/images.sh base

.PHONY: images
images: images-base ## Build the service images with buildah (localhost/shop-<service>:<git sha>; see docs/images.md)
	@scripts/images.sh build

.PHONY: images-selftest
images-selftest: images-base ## Prove the image design on a stand-in workspace: build, run with podman, probe, SIGTERM
	@scripts/images-selftest.sh

.PHONY: test-images
test-images: infra-up images-base ## Build every image, then migrate, seed, run and smoke-test the whole shop from them with podman
	@scripts/test-images.sh

.PHONY: smoke
smoke: install ## Run the end-to-end smoke suite against SMOKE_BASE_URL (default: make dev's gateway)
	SMOKE_PAYMENTS_URL=$${SMOKE_PAYMENTS_URL-http://127.0.0.1:8083} node --conditions=source --import tsx tools/smoke/src/run.ts

.PHONY: load
load: install ## Realistic traffic through the gateway at a fixed arrival rate (LOAD_FLAGS="--rate 20 --duration 2m"; --help)
	node --conditions=source --import tsx tools/load/src/cli.ts $(LOAD_FLAGS)

BENCH ?= gateway,orders,events,cutover,startup,cutover-node
.PHONY: bench
bench: install infra-up ## Benchmarks with their baselines, report in bench/results/REPORT.md (BENCH=gateway|orders|events|cutover|startup|cutover-node, BENCH_FLAGS="--quick --rounds 5 --cpu-prof")
	node --conditions=source --import tsx bench/run.ts --only $(BENCH) $(BENCH_FLAGS)

.PHONY: bench-gateway bench-orders bench-events bench-cutover bench-startup bench-cutover-node
bench-gateway bench-orders bench-events bench-cutover bench-startup bench-cutover-node: install infra-up ## One benchmark alone (the report keeps the others' last results)
	node --conditions=source --import tsx bench/run.ts --only $(@:bench-%=%) $(BENCH_FLAGS)

.PHONY: chaos
chaos: install ## Load while services are killed -9 and Kafka/Postgres restarted, then check every invariant (CHAOS_FLAGS="--duration 2m"; --help)
	node --conditions=source --import tsx packages/stack/src/chaos-cli.ts $(CHAOS_FLAGS)
