#!/usr/bin/env bash
# A private Postgres and Kafka for the chaos runs (make chaos and the chaos
# end-to-end test), which restart them on purpose. The shared ones from
# `make infra-up` serve `make dev` and the other tests, which must not notice.
# Same scripts as infra.sh, another run directory and other ports:
#
#   scripts/chaos-infra.sh up | down | status
#   scripts/chaos-infra.sh restart-postgres   fast shutdown, then start again
#   scripts/chaos-infra.sh restart-kafka      controlled shutdown, then start again
#
# CHAOS_RUN_DIR (.run/chaos), CHAOS_PG_PORT (25432), CHAOS_KAFKA_PORT (29092),
# CHAOS_KAFKA_CONTROLLER_PORT (29093).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SHOP_RUN_DIR="${CHAOS_RUN_DIR:-$root/.run/chaos}"
export SHOP_PG_PORT="${CHAOS_PG_PORT:-25432}"
export SHOP_KAFKA_PORT="${CHAOS_KAFKA_PORT:-29092}"
export SHOP_KAFKA_CONTROLLER_PORT="${CHAOS_KAFKA_CONTROLLER_PORT:-29093}"
# No listener for the local cluster's real node: nothing there uses this broker, and
# its port would be the main broker's.
export SHOP_KAFKA_NODE_PORT=0

case "${1:-}" in
up | down | status) exec "$root/scripts/infra.sh" "$1" ;;
restart-postgres | restart-kafka)
	# shellcheck source=scripts/lib/postgres.sh
	source "$root/scripts/lib/postgres.sh"
	# shellcheck source=scripts/lib/kafka.sh
	source "$root/scripts/lib/kafka.sh"
	exec 9>"$SHOP_RUN_DIR/infra.lock"
	flock -w 600 9 || die "gave up waiting for $SHOP_RUN_DIR/infra.lock"
	if [[ "$1" == restart-postgres ]]; then
		pg_down
		pg_up
	else
		kafka_down
		kafka_up
	fi
	;;
*)
	sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
