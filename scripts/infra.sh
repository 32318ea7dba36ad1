#!/usr/bin/env bash
# Local infrastructure for development and the integration tests, as plain
# processes on 127.0.0.1 (behind make infra-up / infra-down / infra-status):
#
#   scripts/infra.sh up       install what is missing, start PostgreSQL 15 and
#                             Kafka (KRaft), wait until both really answer,
#                             write .run/infra.env; a no-op if already running
#   scripts/infra.sh down     stop what `up` started (by PID file), and wait
#   scripts/infra.sh status   one line per component; exit 1 if any is down
#
# Ports: SHOP_PG_PORT (15432), SHOP_KAFKA_PORT (19092), SHOP_KAFKA_NODE_PORT (19094,
# the local cluster's real node reaches Kafka there through a relay),
# SHOP_KAFKA_CONTROLLER_PORT (19093). Data under .run/ in the checkout, logs
# in .run/logs/, downloads cached in ${SHOP_CACHE_DIR:-~/.cache/shop}.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=scripts/lib/postgres.sh
source "$here/lib/postgres.sh"
# shellcheck source=scripts/lib/kafka.sh
source "$here/lib/kafka.sh"

INFRA_ENV="$SHOP_RUN_DIR/infra.env"

usage() {
	sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# One `up` or `down` at a time per checkout: `make test-integration` and
# `make dev` in two terminals must not both run initdb or start a broker.
take_lock() {
	ensure_run_dirs
	exec 9>"$SHOP_RUN_DIR/infra.lock"
	if ! flock -n 9; then
		log_info "another infra.sh is running in this checkout; waiting for it"
		flock -w 600 9 || die "gave up waiting for $(rel "$SHOP_RUN_DIR/infra.lock") after 10 minutes"
	fi
}

# A small env file for other scripts and the tests: `set -a; . .run/infra.env`.
write_env() {
	local tmp="$INFRA_ENV.tmp"
	{
		printf '# Written by scripts/infra.sh up; addresses of the local infrastructure.\n'
		pg_env
		kafka_env
	} >"$tmp"
	mv "$tmp" "$INFRA_ENV"
}

cmd_up() {
	local t0
	t0=$(now_ms)
	# Debian packages and node_modules (the Kafka readiness check uses
	# kafkajs): a second or so when everything is there already.
	"$here/bootstrap.sh"
	take_lock
	pg_up
	kafka_up
	write_env
	log_ok "infra up in $(elapsed_since "$t0")"
	printf '\n  postgres  %s   (superuser postgres, trust; service roles: %s, password = name)\n' \
		"postgres://postgres@$PG_HOST:$PG_PORT/postgres" "${PG_SERVICES[*]}"
	printf '  kafka     %s:%s   (Kafka %s, KRaft; controller %s)\n' "$KAFKA_HOST" "$KAFKA_PORT" "$KAFKA_VERSION" "$KAFKA_CONTROLLER_PORT"
	printf '  env file  %s\n\n' "$(rel "$INFRA_ENV")"
}

cmd_down() {
	take_lock
	# Reverse order of `up`: services depend on both; Kafka first is as good as
	# any, and neither depends on the other.
	kafka_down
	pg_down
	rm -f "$INFRA_ENV"
}

cmd_status() {
	local rc=0
	pg_status || rc=1
	kafka_status || rc=1
	if ((rc == 0)); then
		printf 'env file  %s\n' "$(rel "$INFRA_ENV")"
	else
		printf '\nstart with: make infra-up\n'
	fi
	return "$rc"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) usage ;;
esac
