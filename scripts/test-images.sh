#!/usr/bin/env bash
# Proves the container images for real (behind `make test-images`): builds
# every target of the Dockerfile with buildah, then, on this machine's
# Postgres and Kafka (`make infra-up`) and with podman only:
#
#   1. a fresh database per database service (img_<service>_<run id>, owned by
#      the service's role), and each service's migrations applied from its
#      own image with the migration Job's command
#      (node /app/node_modules/prisma/build/index.js migrate deploy);
#   2. a fresh USER_TOKEN_SIGNING_KEYS from the users image (dist/keygen.js
#      --array) and a fresh SERVICE_TOKEN_SECRETS; the users seed (an admin
#      with a random password) and the inventory seed from their images, with
#      only the environment the chart's seed Jobs give them;
#   3. all seven services started from their images (the image's own command,
#      telemetry included) on 127.0.0.1 ports 18180-18186 (the first free block
#      of seven from there: clear of make dev's 8080-8090, of the kernel's
#      ephemeral range that the e2e tests' free ports come from, and of the
#      infrastructure's and control plane's ports) with a unique
#      KAFKA_TOPIC_PREFIX, the environment of packages/stack/src/services.ts,
#      and each one's /health/ready awaited;
#   4. the smoke suite from the smoke image against the gateway, with
#      SMOKE_PAYMENTS_URL;
#   5. a short run of the load generator from the load image (what the chart's
#      load Deployment runs): every order it places must finish as its kind
#      expects, with no HTTP error;
#   6. SIGTERM (`podman stop`) to each service, gateway first: each must exit 0
#      within 25 s, before the kill at 30 s.
#
# Every container runs as the image's uid 1000 with the host network (the
# network rule: 127.0.0.0/8 only), a read-only root filesystem with only /tmp
# writable (tmpfs), no capabilities and no-new-privileges, like the chart's
# securityContext. Containers and databases are removed whatever happens;
# the containers' logs are kept in .run/logs/test-images/<run id>/ when a step
# fails.
#
# Environment: SHOP_IMAGE_TAG (default: what `scripts/images.sh tag` says),
# SHOP_TEST_IMAGES_BUILD=0 to test images already built with that tag,
# SHOP_TEST_IMAGES_NO_CACHE=1 to build them without any cached layer (a cold
# build on a machine that has the base image),
# SHOP_TEST_IMAGES_READY_TIMEOUT (seconds, default 180),
# SHOP_TEST_IMAGES_PORT_BASE (default 18180).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/containers.sh
source "$here/lib/containers.sh"
# shellcheck source=scripts/lib/postgres.sh
source "$here/lib/postgres.sh"
containers_require_root

# shellcheck source=scripts/lib/system.sh
source "$here/lib/system.sh"
# The services' start order (stopped in reverse), from their declaration.
SERVICES=("${SYSTEM_SERVICES[@]}")
DB_SERVICES=("${SYSTEM_DATABASE_SERVICES[@]}")
READY_TIMEOUT="${SHOP_TEST_IMAGES_READY_TIMEOUT:-180}"
PORT_BASE="${SHOP_TEST_IMAGES_PORT_BASE:-18180}"
STAGES=7
KAFKA_BROKERS_ADDR="127.0.0.1:${SHOP_KAFKA_PORT:-19092}"

run_id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
label="org.shop.test-images=$run_id"
work=$(mktemp -d "/tmp/shop-test-images.$run_id.XXXXXX")
chmod 700 "$work"
keep_logs="$SHOP_LOG_DIR/test-images/$run_id"
failures=0
summary=()
declare -A DB_NAME DB_URL PORT
created_dbs=()

# What every container gets: the host network (loopback only is ever
# addressed), the image's non-root user, a read-only root with a tmpfs /tmp
# and nothing else writable, no capabilities.
# shellcheck disable=SC2054 # the commas are tmpfs mount options
RUN_ARGS=(
	--network=host
	--read-only
	--read-only-tmpfs=false
	--tmpfs /tmp:rw,nosuid,nodev,size=64m
	--cap-drop=all
	--security-opt=no-new-privileges
	--label "$label"
)

image() { printf 'localhost/shop-%s:%s' "$1" "$SHOP_IMAGE_TAG"; }
cname() { printf 'shop-img-%s-%s' "$run_id" "$1"; }
note() { summary+=("$*"); }
stage_no=0
stage() {
	stage_no=$((stage_no + 1))
	log_info "[$stage_no/$STAGES] $*"
}
fail() {
	log_error "$*"
	note "FAIL $*"
	failures=$((failures + 1))
}

save_logs() {
	local name
	mkdir -p "$keep_logs"
	for name in $(podman ps -a --filter "label=$label" --format '{{.Names}}'); do
		podman logs "$name" >"$keep_logs/${name#shop-img-"$run_id"-}.log" 2>&1 || true
	done
	cp "$work"/*.log "$keep_logs/" 2>/dev/null || true
	log_info "container logs kept in $(rel "$keep_logs")"
}

cleanup() {
	local status=$? ids db
	trap - EXIT INT TERM
	if ((status != 0 || failures > 0)); then
		save_logs
	fi
	mapfile -t ids < <(podman ps -a --filter "label=$label" --format '{{.ID}}' 2>/dev/null || true)
	if ((${#ids[@]} > 0)); then
		podman rm --force --time 0 "${ids[@]}" >/dev/null 2>&1 || podman rm --force "${ids[@]}" >/dev/null 2>&1 || true
	fi
	for db in "${created_dbs[@]}"; do
		pg_psql -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || log_warn "could not drop database $db"
	done
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# $1 consecutive free loopback ports: the first block from $2 on (stepping by
# 10, five tries) where every port can be bound on 127.0.0.1. Below the
# ephemeral range, so no test's port-0 listener is handed one of them.
free_ports() {
	node -e '
		const net = require("node:net");
		const [count, base] = process.argv.slice(1).map(Number);
		const free = (port) => new Promise((resolve) => {
			const s = net.createServer().once("error", () => resolve(false));
			s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
		});
		(async () => {
			for (let start = base; start < base + 50; start += 10) {
				const ports = Array.from({ length: count }, (_, i) => start + i);
				if ((await Promise.all(ports.map(free))).every(Boolean)) return console.log(ports.join(" "));
			}
			console.error("no block of " + count + " free ports in " + base + "-" + (base + 49) + " on 127.0.0.1");
			process.exit(1);
		})();
	' "$1" "$2"
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# ---- 1. infrastructure and images ------------------------------------------
t_all=$(now_ms)
stage "infrastructure and images"
"$here/infra.sh" up
export SHOP_IMAGE_TAG="${SHOP_IMAGE_TAG:-$("$here/images.sh" tag)}"
if [[ "${SHOP_TEST_IMAGES_BUILD:-1}" != 0 ]]; then
	t=$(now_ms)
	if [[ "${SHOP_TEST_IMAGES_NO_CACHE:-0}" == 1 ]]; then
		"$here/images.sh" build --no-cache
		note "build of every image, no cached layers (tag $SHOP_IMAGE_TAG): $(elapsed_since "$t")"
	else
		"$here/images.sh" build
		note "build of every image (tag $SHOP_IMAGE_TAG): $(elapsed_since "$t")"
	fi
else
	log_info "using the images already built with tag $SHOP_IMAGE_TAG"
fi
for svc in "${SERVICES[@]}" smoke load; do
	podman image exists "$(image "$svc")" || die "no image $(image "$svc") (scripts/images.sh build, or unset SHOP_TEST_IMAGES_BUILD)"
	config=$(podman image inspect --format '{{.Config.User}}|{{json .Config.Cmd}}|{{.Config.WorkingDir}}|{{range .Config.Env}}{{.}} {{end}}' "$(image "$svc")")
	[[ "$config" == 1000:1000\|* ]] || fail "$svc: image user is not 1000:1000 ($config)"
	[[ "$config" == *NODE_ENV=production* ]] || fail "$svc: image has no NODE_ENV=production"
	if [[ "$svc" == smoke ]]; then
		[[ "$config" == *'|["node","dist/run.js"]|/app/tools/smoke|'* ]] || fail "smoke: unexpected command or workdir ($config)"
	elif [[ "$svc" == load ]]; then
		[[ "$config" == *'|["node","dist/cli.js"]|/app/tools/load|'* ]] || fail "load: unexpected command or workdir ($config)"
	elif [[ "$svc" == gateway ]]; then
		# Its flags are the chart's services.gateway.nodeFlags.
		[[ "$config" == *"|[\"node\",\"--single-threaded-gc\",\"--import\",\"@shop/platform/instrument\",\"dist/main.js\"]|/app/services/$svc|"* ]] ||
			fail "$svc: unexpected command or workdir ($config)"
	else
		[[ "$config" == *"|[\"node\",\"--import\",\"@shop/platform/instrument\",\"dist/main.js\"]|/app/services/$svc|"* ]] ||
			fail "$svc: unexpected command or workdir ($config)"
	fi
done
((failures == 0)) || die "the images are not what the chart expects"

# ---- 2. databases and migrations -------------------------------------------
t=$(now_ms)
stage "databases img_<service>_$run_id and migrations"
for svc in "${DB_SERVICES[@]}"; do
	DB_NAME[$svc]="img_${svc}_$run_id"
	pg_psql -c "CREATE DATABASE ${DB_NAME[$svc]} OWNER $svc" >/dev/null
	created_dbs+=("${DB_NAME[$svc]}")
	DB_URL[$svc]="postgresql://$svc:$svc@127.0.0.1:$PG_PORT/${DB_NAME[$svc]}"
done
log_info "migrating ${DB_SERVICES[*]} from their images (prisma migrate deploy, in parallel)"
declare -A pids
for svc in "${DB_SERVICES[@]}"; do
	podman run --rm --name "$(cname "migrate-$svc")" "${RUN_ARGS[@]}" \
		-e DATABASE_URL="${DB_URL[$svc]}" -e LOG_LEVEL=info \
		"$(image "$svc")" node /app/node_modules/prisma/build/index.js migrate deploy \
		>"$work/migrate-$svc.log" 2>&1 &
	pids[$svc]=$!
done
for svc in "${DB_SERVICES[@]}"; do
	if wait "${pids[$svc]}" && grep -qE 'successfully applied|No pending migrations' "$work/migrate-$svc.log"; then
		want=$(find "$SHOP_ROOT/services/$svc/prisma/migrations" -mindepth 1 -maxdepth 1 -type d | wc -l)
		have=$(pg_psql -d "${DB_NAME[$svc]}" -tAc 'SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL')
		if [[ "$have" == "$want" ]]; then
			log_ok "$svc: $have migrations applied"
		else
			fail "$svc: $have migrations recorded, $want in services/$svc/prisma/migrations"
		fi
	else
		tail -n 20 "$work/migrate-$svc.log" | sed 's/^/    /' >&2
		fail "$svc: migrate deploy from the image failed"
	fi
done
((failures == 0)) || die "migrations failed"
note "databases created and migrated from the images: $(elapsed_since "$t")"

# ---- 3. secrets, configuration and seeds -----------------------------------
t=$(now_ms)
stage "secrets, configuration and seeds"
service_token_secret=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
signing_keys=$(podman run --rm --name "$(cname keygen)" "${RUN_ARGS[@]}" "$(image users)" node dist/keygen.js --array)
[[ "$signing_keys" == '[{'*'"kty":"OKP"'*'"d":'*'}]' ]] || die "users' dist/keygen.js --array printed no private JWK array"
admin_email="admin+$run_id@shop.local"
admin_password="img-$(random_hex 12)"
prefix="img.$run_id."
read -r -a ports <<<"$(free_ports ${#SERVICES[@]} "$PORT_BASE")"
for i in "${!SERVICES[@]}"; do PORT[${SERVICES[$i]}]=${ports[$i]}; done
url() { printf 'http://127.0.0.1:%s' "${PORT[$1]}"; }

# One env file per service (mode 600 in a private directory: the secrets stay
# out of process listings), mirroring environmentOf() in packages/stack/src/services.ts.
for svc in "${SERVICES[@]}"; do
	{
		printf 'SERVICE_NAME=%s\nHOST=127.0.0.1\nPORT=%s\nLOG_LEVEL=info\n' "$svc" "${PORT[$svc]}"
		printf 'SERVICE_TOKEN_SECRETS=%s\n' "$service_token_secret"
		printf 'KAFKA_BROKERS=%s\nKAFKA_TOPIC_PREFIX=%s\n' "$KAFKA_BROKERS_ADDR" "$prefix"
		[[ -n "${DB_URL[$svc]:-}" ]] && printf 'DATABASE_URL=%s\n' "${DB_URL[$svc]}"
		for call in ${SYSTEM_CALLS[$svc]:-}; do printf '%s=%s\n' "${call%%=*}" "$(url "${call#*=}")"; done
		case "$svc" in
		users) printf 'USER_TOKEN_SIGNING_KEYS=%s\n' "$signing_keys" ;;
		gateway)
			# As the local stack: one client IP runs the whole suite.
			printf 'RATE_LIMIT_PER_MINUTE=20000\nAUTH_RATE_LIMIT_PER_MINUTE=2000\n'
			;;
		esac
	} >"$work/$svc.env"
done
unset signing_keys

# The seeds get what the chart's seed Jobs give them (deploy/helm/shop/templates/jobs.yaml):
# DATABASE_URL, LOG_LEVEL and, for users, the admin account; nothing else.
log_info "seeding from the images (users: the admin account; inventory: the demo products)"
printf 'DATABASE_URL=%s\nLOG_LEVEL=info\nSEED_ADMIN_EMAIL=%s\nSEED_ADMIN_PASSWORD=%s\nSEED_ADMIN_NAME=Image test admin\n' \
	"${DB_URL[users]}" "$admin_email" "$admin_password" >"$work/seed-users.env"
podman run --rm --name "$(cname seed-users)" "${RUN_ARGS[@]}" --env-file "$work/seed-users.env" \
	"$(image users)" node dist/seed.js >"$work/seed-users.log" 2>&1 &
seed_users=$!
podman run --rm --name "$(cname seed-inventory)" "${RUN_ARGS[@]}" \
	-e DATABASE_URL="${DB_URL[inventory]}" -e LOG_LEVEL=info \
	"$(image inventory)" node dist/seed.js >"$work/seed-inventory.log" 2>&1 &
seed_inventory=$!
for pair in "users:$seed_users" "inventory:$seed_inventory"; do
	if wait "${pair#*:}"; then
		log_ok "${pair%%:*} seed: $(tail -n1 "$work/seed-${pair%%:*}.log")"
	else
		tail -n 20 "$work/seed-${pair%%:*}.log" | sed 's/^/    /' >&2
		fail "${pair%%:*}: node dist/seed.js from the image failed"
	fi
done
((failures == 0)) || die "seeding failed"
note "keygen and seeds from the images: $(elapsed_since "$t")"

# ---- 4. start every service --------------------------------------------------
t=$(now_ms)
stage "starting ${SERVICES[*]} on 127.0.0.1:${PORT[payment-provider]}-${PORT[gateway]} (topic prefix $prefix)"
for svc in "${SERVICES[@]}"; do
	podman run --detach --name "$(cname "$svc")" "${RUN_ARGS[@]}" --env-file "$work/$svc.env" "$(image "$svc")" >/dev/null
done
deadline=$(($(date +%s) + READY_TIMEOUT))
for svc in "${SERVICES[@]}"; do
	until curl -fsS -o /dev/null --max-time 5 "$(url "$svc")/health/ready" 2>/dev/null; do
		if [[ "$(podman container inspect --format '{{.State.Running}}' "$(cname "$svc")")" != true ]]; then
			podman logs --tail 30 "$(cname "$svc")" 2>&1 | sed 's/^/    /' >&2
			die "$svc exited before it was ready (exit $(podman container inspect --format '{{.State.ExitCode}}' "$(cname "$svc")"))"
		fi
		if (($(date +%s) > deadline)); then
			podman logs --tail 30 "$(cname "$svc")" 2>&1 | sed 's/^/    /' >&2
			curl -sS --max-time 5 "$(url "$svc")/health/ready" >&2 || true
			die "$svc not ready on $(url "$svc") after ${READY_TIMEOUT}s"
		fi
		sleep 0.5
	done
	log_ok "$svc ready on $(url "$svc") ($(elapsed_since "$t") since the first start)"
done
note "7 services started and ready: $(elapsed_since "$t")"

# ---- 5. the smoke suite from its image ---------------------------------------
# node:test's summary lines ("ℹ tests 13" from the spec reporter, "# tests 13" from TAP).
smoke_counts() {
	{ grep -E '^(ℹ|#) (tests|pass|fail) [0-9]+' "$work/smoke.log" || true; } | sed -E 's/^(ℹ|#) //' | tr '\n' ' '
}
t=$(now_ms)
stage "smoke suite (localhost/shop-smoke) against the gateway at $(url gateway)"
if podman run --rm --name "$(cname smoke)" "${RUN_ARGS[@]}" \
	-e SMOKE_BASE_URL="$(url gateway)" -e SMOKE_PAYMENTS_URL="$(url payments)" \
	-e SMOKE_ADMIN_EMAIL="$admin_email" -e SMOKE_ADMIN_PASSWORD="$admin_password" \
	"$(image smoke)" 2>&1 | tee "$work/smoke.log"; then
	note "smoke suite from the image: passed ($(smoke_counts)) in $(elapsed_since "$t")"
else
	fail "smoke suite from the image failed ($(smoke_counts))"
fi

# ---- 6. the load generator from its image -----------------------------------
t=$(now_ms)
stage "load generator (localhost/shop-load): 2 orders/s for 10 s through the gateway"
# The chart's Deployment passes the same LOAD_* variables. The summary (JSON) is
# on stdout, the progress lines on stderr.
if podman run --rm --name "$(cname load)" "${RUN_ARGS[@]}" \
	-e LOAD_BASE_URL="$(url gateway)" -e LOAD_RATE=2 -e LOAD_DURATION=10s -e LOAD_DRAIN=60s \
	-e LOAD_INTERVAL=5s -e LOAD_OUTPUT=json -e LOAD_SEED=42 \
	-e LOAD_ADMIN_EMAIL="$admin_email" -e LOAD_ADMIN_PASSWORD="$admin_password" \
	"$(image load)" >"$work/load.json" 2>"$work/load.log"; then
	code=0
else
	code=$?
fi
if ((code == 0)); then
	sed 's/^/    /' "$work/load.log" >&2
	# accepted orders, finished ones, those that ended otherwise than their kind
	# should (a visa order CANCELLED, ...), unfinished ones, HTTP errors.
	verdict=$(node -e '
		const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		const unexpected = Object.values(s.orders.byKind).reduce((n, k) => n + k.unexpected, 0);
		console.log([s.orders.accepted, s.orders.confirmed + s.orders.cancelled, unexpected, s.orders.unfinished, s.http.errors].join(" "));
	' "$work/load.json") || verdict="unreadable"
	read -r accepted finished unexpected unfinished errors <<<"$verdict"
	if [[ "$verdict" != unreadable ]] && ((accepted > 0 && finished == accepted && unexpected == 0 && unfinished == 0 && errors == 0)); then
		note "load generator from the image: $accepted orders accepted, all finished as expected, 0 HTTP errors, in $(elapsed_since "$t")"
	else
		fail "load generator from the image: accepted=$accepted finished=$finished unexpected=$unexpected unfinished=$unfinished http_errors=$errors (summary in $keep_logs/load.json)"
		mkdir -p "$keep_logs"
		cp "$work/load.json" "$work/load.log" "$keep_logs/" 2>/dev/null || true
	fi
else
	sed 's/^/    /' "$work/load.log" >&2
	fail "the load generator's image exited $code (its log is above)"
fi

# ---- 7. SIGTERM, gateway first -----------------------------------------------
stage "SIGTERM to each service, gateway first"
for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
	svc=${SERVICES[$i]}
	start=$(now_ms)
	podman stop --time 30 "$(cname "$svc")" >/dev/null
	took=$(($(now_ms) - start))
	code=$(podman container inspect --format '{{.State.ExitCode}}' "$(cname "$svc")")
	if [[ "$code" == 0 ]] && ((took < 25000)); then
		log_ok "$svc exited 0, ${took} ms after SIGTERM"
		note "$svc: SIGTERM -> exit 0 in ${took} ms"
	else
		podman logs --tail 20 "$(cname "$svc")" 2>&1 | sed 's/^/    /' >&2
		fail "$svc: SIGTERM -> exit $code after ${took} ms (want 0, within 25 s)"
	fi
done

# ---- summary -------------------------------------------------------------------
printf '\n%s\n' "test-images $run_id (tag $SHOP_IMAGE_TAG), $(elapsed_since "$t_all") in all:" >&2
for line in "${summary[@]}"; do printf '  %s\n' "$line" >&2; done
printf '  sizes:' >&2
for svc in "${SERVICES[@]}" smoke load; do
	printf ' %s %s' "$svc" "$(podman image inspect --format '{{.Size}}' "$(image "$svc")" | awk '{printf "%.0f MB", $1 / 1e6}')" >&2
done
printf '\n' >&2
((failures == 0)) || die "$failures check(s) failed"
log_ok "every image migrated, seeded, served the smoke suite and stopped cleanly"
