# shellcheck shell=bash
# PostgreSQL 15 for development and tests: Debian's binaries run directly
# (initdb + pg_ctl) on a project-owned data directory, .run/postgres, so tests
# never depend on the machine's own cluster (/etc/postgresql/15/main), which
# we leave alone.
#
#   pg_up      init (first time), start, wait for `SELECT 1`, create the
#              per-service roles and databases; a no-op if already running
#   pg_down    stop the server we started (fast shutdown)
#   pg_status  one line: running or not, pid, address, data dir, log

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PG_BIN=/usr/lib/postgresql/15/bin
PG_HOST=127.0.0.1
PG_PORT="${SHOP_PG_PORT:-15432}"
PG_DATA="$SHOP_RUN_DIR/postgres"
PG_LOG="$SHOP_LOG_DIR/postgres.log"
# As root, the server runs as the `postgres` OS user (see pg_as_owner), which
# must be able to reach the checkout. A checkout under /root (mode 700) is not
# reachable; then the data dir and log live in a directory of their own under
# /var/tmp, keyed by the checkout's path, and .run/postgres and
# .run/logs/postgres.log are symlinks to them, so nothing else changes.
PG_RELOCATED=""
if [[ $EUID -eq 0 ]] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$SHOP_ROOT"; then
	# Keyed by the checkout, or by the run directory when it is a private one.
	pg_home_key=$SHOP_ROOT
	[[ "$SHOP_RUN_DIR" == "$SHOP_ROOT/.run" ]] || pg_home_key=$SHOP_RUN_DIR
	PG_RELOCATED="/var/tmp/shop-postgres-$(printf '%s' "$pg_home_key" | sha256sum | cut -c1-12)"
	PG_DATA="$PG_RELOCATED/data"
	PG_LOG="$PG_RELOCATED/postgres.log"
fi
# Shown in `ps` as "postgres: shop-15432: checkpointer" etc., so our server
# processes are easy to tell apart from any other cluster on the machine.
PG_CLUSTER_NAME="shop-$PG_PORT"
# One database and one role per service, role = database = password (dev only).
PG_SERVICES=(users inventory payments orders notifications shipping)

# initdb and the server refuse to run as root. As root we run them as the
# `postgres` OS user that the Debian package creates, and give that user the
# data directory; as anyone else we run them as ourselves.
pg_as_owner() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_os_user() { if [[ $EUID -eq 0 ]]; then echo postgres; else id -un; fi; }

# psql as the superuser over TCP on loopback (there is no Unix socket, see
# pg_write_config). -X: ignore ~/.psqlrc; ON_ERROR_STOP: fail loudly.
pg_psql() {
	PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
		-h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres "$@"
}

# The postmaster's command line contains the data directory, which is unique
# to this checkout: that is what makes a PID "ours".
# Falls back to Postgres's own postmaster.pid, so a server of ours whose PID
# file was lost (deleted .run/pids) is found and adopted, not started twice.
pg_running_pid() {
	pid_running postgres "$PG_DATA" && return 0
	local pid
	pid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
	pid_is_ours "$pid" "$PG_DATA" || return 1
	log_warn "postgres: found our server running (pid $pid) without a PID file; adopting it"
	mkdir -p "$SHOP_PID_DIR"
	printf '%s\n' "$pid" >"$(pid_file postgres)"
	printf '%s' "$pid"
}

# Create the relocated home (see PG_RELOCATED) and the symlinks that keep
# .run/postgres and .run/logs/postgres.log pointing at it.
pg_prepare_relocation() {
	[[ -n "$PG_RELOCATED" ]] || return 0
	if [[ ! -d "$PG_RELOCATED" ]]; then
		log_warn "postgres: the postgres OS user cannot reach $SHOP_ROOT (a parent directory is not world-traversable); keeping the data in $PG_RELOCATED instead, linked from .run/postgres"
		mkdir -p "$PG_RELOCATED"
	fi
	chown postgres:postgres "$PG_RELOCATED"
	chmod 700 "$PG_RELOCATED"
	[[ -L "$SHOP_RUN_DIR/postgres" || ! -e "$SHOP_RUN_DIR/postgres" ]] ||
		die "postgres: $(rel "$SHOP_RUN_DIR/postgres") is a directory the postgres OS user cannot reach; move it away"
	ln -sfn "$PG_DATA" "$SHOP_RUN_DIR/postgres"
	ln -sfn "$PG_LOG" "$SHOP_LOG_DIR/postgres.log"
}

pg_init() {
	if [[ -f "$PG_DATA/PG_VERSION" ]]; then
		local have
		have=$(<"$PG_DATA/PG_VERSION")
		[[ "$have" == 15 ]] || die "postgres: $(rel "$PG_DATA") holds a PostgreSQL $have cluster, but these scripts run 15; move it away (dev data: rm -rf $(rel "$PG_DATA")) and run make infra-up again"
		return 0
	fi
	if [[ -e "$PG_DATA" ]]; then
		# A data dir without PG_VERSION is what an interrupted initdb leaves
		# behind. It is ours and holds no data yet: start over.
		log_warn "postgres: $(rel "$PG_DATA") is incomplete (interrupted initdb?), re-initialising"
		rm -rf "$PG_DATA"
	fi
	local t0
	t0=$(now_ms)
	log_info "postgres: initdb $(rel "$PG_DATA")"
	mkdir -p "$PG_DATA"
	chmod 700 "$PG_DATA"
	[[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_DATA"
	# --auth=trust is replaced right after by our own pg_hba.conf.
	# C.UTF-8: the same collation on every machine, so ORDER BY in tests
	# does not depend on the host's locale settings.
	if ! pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >"$SHOP_LOG_DIR/postgres-initdb.log" 2>&1; then
		log_tail "$SHOP_LOG_DIR/postgres-initdb.log"
		die "postgres: initdb failed"
	fi
	# Our settings live in their own file, included from postgresql.conf, so
	# they can be rewritten on every `up` without editing initdb's file.
	printf "\n# Project settings, rewritten by scripts/lib/postgres.sh on every start\ninclude = 'shop.conf'\n" |
		pg_as_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null
	log_ok "postgres: initdb done in $(elapsed_since "$t0")"
}

# Write shop.conf and pg_hba.conf. Done on every start so a changed
# SHOP_PG_PORT or a change to this file takes effect; content only changes
# when the inputs change.
pg_write_config() {
	pg_as_owner tee "$PG_DATA/shop.conf" >/dev/null <<EOF
# Generated by scripts/lib/postgres.sh; edit that file, not this one.
# A development and test server on a 2-core box shared with Kafka and six
# Node services.

# Loopback only, TCP only: no Unix socket, so nothing depends on
# /var/run/postgresql (owned by the system cluster) and every client uses the
# same 127.0.0.1 URL that the services use.
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = ''
cluster_name = '$PG_CLUSTER_NAME'

# 6 services with connection pools of ~10-20 each, Prisma migrations, and the
# integration tests, which create throwaway databases and connect to them in
# parallel: 100 (the default) runs out; 300 leaves headroom. Each slot costs
# only a few hundred KB of shared memory.
max_connections = 300

# Durability vs speed for dev/test: fsync stays ON, so a crash, kill -9 or
# power loss never corrupts the cluster. synchronous_commit = off lets a
# COMMIT return before its WAL reaches disk: a crash can lose the last few
# hundred milliseconds of commits (never consistency), which is acceptable
# for dev and makes the commit-heavy tests (outbox, idempotent consumers)
# much faster. Never use this setting in production.
fsync = on
synchronous_commit = off

# Modest memory: the box is shared.
shared_buffers = 128MB
work_mem = 4MB
maintenance_work_mem = 64MB

# Logs to stderr, which pg_ctl -l sends to .run/logs/postgres.log.
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
EOF
	# Trust only for the superuser, only from loopback (dev box, no password
	# to manage). Service roles must present their password (scram), as they
	# will in production: a wrong password in a service's config fails here
	# too. No other address can connect at all.
	pg_as_owner tee "$PG_DATA/pg_hba.conf" >/dev/null <<EOF
# Generated by scripts/lib/postgres.sh; edit that file, not this one.
# TYPE  DATABASE  USER      ADDRESS        METHOD
host    all       postgres  127.0.0.1/32   trust
host    all       all       127.0.0.1/32   scram-sha-256
EOF
}

# Postgres keeps its own lock file, postmaster.pid. If the server was killed
# it is left behind. Postgres copes with that by itself when the PID in it is
# gone, but not when that PID still exists: here a killed postmaster lingers
# as a zombie until PID 1 gets round to reaping it, and Postgres then refuses
# to start ("lock file already exists; is another postmaster running?"); the
# same happens if the PID was reused by another process of the postgres user.
pg_clear_stale_lockfile() {
	local lock="$PG_DATA/postmaster.pid" pid
	[[ -f "$lock" ]] || return 0
	pid=$(head -n1 "$lock")
	pid_is_ours "$pid" "$PG_DATA" && return 0 # running: pg_up does not get here
	log_warn "postgres: stale $(rel "$lock") (pid $pid is not running): the server was not shut down cleanly; it will recover from its WAL on start"
	# Server processes orphaned by a killed postmaster exit on their own within
	# a moment (they watch the postmaster); they are the ones still attached to
	# the old shared memory, which is what the lock file protects. Wait for
	# them, and for the dead postmaster to be reaped.
	local _
	for _ in $(seq 1 100); do
		if ! pgrep -u "$(pg_os_user)" -f "^postgres: $PG_CLUSTER_NAME: " >/dev/null && ! kill -0 "$pid" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	if pgrep -u "$(pg_os_user)" -f "^postgres: $PG_CLUSTER_NAME: " >/dev/null; then
		die "postgres: server processes of the killed server are still running (pgrep -af 'postgres: $PG_CLUSTER_NAME'); stop them, then run make infra-up again"
	fi
	# No server process of ours is left, only the PID (a zombie, or a reused
	# number): the lock file protects nothing any more.
	rm -f "$lock"
}

pg_wait_ready() {
	local pid=$1 deadline=$((SECONDS + ${2:-60}))
	# Ready means a real query answers, not only that the port is open.
	until pg_psql -tAc 'SELECT 1' >/dev/null 2>&1; do
		if ! pid_alive "$pid"; then
			log_tail "$PG_LOG"
			die "postgres: the server exited during startup (see $(rel "$PG_LOG"))"
		fi
		if ((SECONDS >= deadline)); then
			log_tail "$PG_LOG"
			die "postgres: not accepting SELECT 1 on $PG_HOST:$PG_PORT after ${2:-60}s"
		fi
		sleep 0.2
	done
}

# Create, if missing, one LOGIN role and one database per service. Idempotent:
# nothing is altered on a second run (passwords are not re-hashed).
pg_provision() {
	local created
	# \gexec runs each generated statement on its own (CREATE DATABASE cannot
	# run inside a transaction block), and only for what is missing.
	created=$(pg_psql -tA -v services="${PG_SERVICES[*]}" <<'SQL'
SELECT string_agg(x, ' ') FROM (
  SELECT 'role:' || s AS x FROM unnest(string_to_array(:'services', ' ')) s
   WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = s)
  UNION ALL
  SELECT 'database:' || s FROM unnest(string_to_array(:'services', ' ')) s
   WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = s)
) missing;
-- Roles get CREATEDB so integration tests can create (and drop) their own
-- throwaway databases; password = role name, for dev only.
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', s, s)
  FROM unnest(string_to_array(:'services', ' ')) s
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = s) \gexec
-- The role owns its database, and with Postgres 15 therefore also its
-- `public` schema (owned by pg_database_owner), so migrations run as the role.
SELECT format('CREATE DATABASE %I OWNER %I', s, s)
  FROM unnest(string_to_array(:'services', ' ')) s
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = s) \gexec
-- Services are isolated as in production: a role can connect to its own
-- database (as owner) and to `postgres` (to create throwaway databases), not
-- to another service's. Re-running the REVOKE is harmless.
SELECT format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', s)
  FROM unnest(string_to_array(:'services', ' ')) s \gexec
SQL
	) || die "postgres: creating the service roles and databases failed"
	# The first query printed what was missing, e.g. "role:users database:users".
	local roles dbs
	roles=$(printf '%s' "$created" | grep -o 'role:[^ ]*' | cut -d: -f2 | paste -sd' ' || true)
	dbs=$(printf '%s' "$created" | grep -o 'database:[^ ]*' | cut -d: -f2 | paste -sd' ' || true)
	[[ -z "$roles" ]] || log_ok "postgres: created roles: $roles"
	[[ -z "$dbs" ]] || log_ok "postgres: created databases: $dbs"
}

pg_up() {
	local pid t0
	if pid=$(pg_running_pid); then
		# Already running: make sure it is on the port asked for (postmaster.pid
		# line 4), still answers, and has every service database. All of that is
		# read-only unless something is missing.
		local running_port
		running_port=$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true)
		if [[ "$running_port" != "$PG_PORT" ]]; then
			die "postgres: already running (pid $pid) on port ${running_port:-?}, not $PG_PORT; to change SHOP_PG_PORT, run make infra-down first"
		fi
		pg_wait_ready "$pid" 30
		pg_provision
		log_ok "postgres: already running (pid $pid) on $PG_HOST:$PG_PORT"
		return 0
	fi
	t0=$(now_ms)
	[[ -x "$PG_BIN/pg_ctl" ]] || die "postgres: $PG_BIN/pg_ctl not found; run make install"
	ensure_run_dirs
	id postgres >/dev/null 2>&1 || [[ $EUID -ne 0 ]] || die "postgres: the 'postgres' OS user does not exist; run make install (it installs postgresql-15, which creates it)"
	pg_prepare_relocation
	port_require_free "$PG_PORT" postgres SHOP_PG_PORT
	pg_init
	pg_write_config
	pg_clear_stale_lockfile

	# pg_ctl (as the owner) must be able to append to the log file.
	rotate_log "$PG_LOG"
	touch "$PG_LOG"
	[[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_LOG"
	log_info "postgres: starting on $PG_HOST:$PG_PORT"
	# -W: do not wait here, we wait on a real query below. pg_ctl starts the
	# server in its own session, so it survives the end of this script.
	# 9>&-: the server must not inherit infra.sh's lock (fd 9), or every later
	# infra.sh would wait for it to exit.
	local out
	if ! out=$(pg_as_owner "$PG_BIN/pg_ctl" start -W -D "$PG_DATA" -l "$PG_LOG" 2>&1 9>&-); then
		printf '%s\n' "$out" >&2
		log_tail "$PG_LOG"
		die "postgres: pg_ctl start failed"
	fi
	# postmaster.pid appears a moment after pg_ctl returns.
	for _ in $(seq 1 100); do
		pid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
		pid_is_ours "$pid" "$PG_DATA" && break
		sleep 0.1
	done
	pid_is_ours "$pid" "$PG_DATA" || {
		log_tail "$PG_LOG"
		die "postgres: the server did not start"
	}
	printf '%s\n' "$pid" >"$(pid_file postgres)"
	pg_wait_ready "$pid" 60
	pg_provision
	log_ok "postgres: ready (pid $pid) on $PG_HOST:$PG_PORT in $(elapsed_since "$t0")"
}

pg_down() {
	local pid
	if ! pid=$(pg_running_pid); then
		log_dim "postgres: not running"
		return 0
	fi
	log_info "postgres: stopping (pid $pid)"
	# Fast shutdown: roll back open transactions, disconnect clients, write a
	# checkpoint. pg_ctl -w waits for the postmaster to exit.
	if ! pg_as_owner "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 >/dev/null 2>&1; then
		log_warn "postgres: pg_ctl stop failed; signalling pid $pid directly"
	fi
	# Make sure it is gone (SIGTERM is "smart" shutdown for the postmaster;
	# pid_stop escalates if needed).
	pid_alive "$pid" && pid_stop postgres "$pid" 60
	rm -f "$(pid_file postgres)"
	log_ok "postgres: stopped"
}

pg_status() {
	local pid
	if pid=$(pg_running_pid); then
		printf '%-9s %srunning%s  pid %-7s %s:%s  data %s  log %s\n' postgres \
			"$C_GREEN" "$C_RESET" "$pid" "$PG_HOST" "$PG_PORT" "$(rel "$PG_DATA")" "$(rel "$PG_LOG")"
		return 0
	fi
	printf '%-9s %sstopped%s  %-11s %s:%s  data %s  log %s\n' postgres \
		"$C_RED" "$C_RESET" "" "$PG_HOST" "$PG_PORT" "$(rel "$PG_DATA")" "$(rel "$PG_LOG")"
	return 1
}

pg_env() {
	local svc upper
	printf 'DATABASE_ADMIN_URL=postgres://postgres@%s:%s/postgres\n' "$PG_HOST" "$PG_PORT"
	printf 'PGHOST=%s\nPGPORT=%s\n' "$PG_HOST" "$PG_PORT"
	for svc in "${PG_SERVICES[@]}"; do
		upper=$(printf '%s' "$svc" | tr '[:lower:]' '[:upper:]')
		printf '%s_DATABASE_URL=postgres://%s:%s@%s:%s/%s\n' "$upper" "$svc" "$svc" "$PG_HOST" "$PG_PORT" "$svc"
	done
}
