# shellcheck shell=bash
# Shared shell functions for the scripts behind the Makefile: logging, paths,
# PID files and port checks. Source it; it defines functions and variables
# only and runs nothing.
#
# Every process the scripts start is recorded in a PID file under
# $SHOP_RUN_DIR/pids/, and every check of "is it ours and alive" goes through
# pid_is_ours, which also compares the command line: after a crash or reboot
# the number in a stale PID file may belong to an unrelated process, which we
# must neither report as running nor ever signal.

# Guard against double sourcing (infra.sh sources postgres.sh and kafka.sh,
# which both source this file).
if [[ -n "${SHOP_COMMON_SH_LOADED:-}" ]]; then
	return 0
fi
SHOP_COMMON_SH_LOADED=1

SHOP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# SHOP_RUN_DIR may point elsewhere for a second, private set of infrastructure
# (scripts/chaos-infra.sh: the chaos runs restart theirs on purpose).
SHOP_RUN_DIR="${SHOP_RUN_DIR:-$SHOP_ROOT/.run}"
SHOP_LOG_DIR="$SHOP_RUN_DIR/logs"
SHOP_PID_DIR="$SHOP_RUN_DIR/pids"
SHOP_CACHE_DIR="${SHOP_CACHE_DIR:-$HOME/.cache/shop}"
export SHOP_ROOT SHOP_RUN_DIR SHOP_LOG_DIR SHOP_PID_DIR SHOP_CACHE_DIR

# The pinned Node (scripts/lib/node.sh fetches it when the machine's is older)
# comes first on the PATH of every script, as the Makefile puts it first on
# every target's; while it is not fetched, the directory does not exist and
# the machine's Node answers.
SHOP_NODE_HOME="$SHOP_CACHE_DIR/node/$(tr -d 'v \n' <"$SHOP_ROOT/.node-version")"
case ":$PATH:" in
*":$SHOP_NODE_HOME/bin:"*) ;;
*) PATH="$SHOP_NODE_HOME/bin:$PATH" ;;
esac
export SHOP_NODE_HOME PATH

# --- logging -------------------------------------------------------------
# Colours only on a terminal and when NO_COLOR is unset (https://no-color.org),
# so CI logs and redirected output stay plain text.
if [[ -t 2 && -z "${NO_COLOR:-}" ]]; then
	C_RED=$'\e[31m' C_GREEN=$'\e[32m' C_YELLOW=$'\e[33m' C_BLUE=$'\e[34m' C_DIM=$'\e[2m' C_RESET=$'\e[0m'
else
	C_RED='' C_GREEN='' C_YELLOW='' C_BLUE='' C_DIM='' C_RESET=''
fi

# All messages go to stderr so that a function's stdout can carry a value.
log_info() { printf '%s==>%s %s\n' "$C_BLUE" "$C_RESET" "$*" >&2; }
log_ok() { printf '%s ok%s %s\n' "$C_GREEN" "$C_RESET" "$*" >&2; }
log_warn() { printf '%swarn%s %s\n' "$C_YELLOW" "$C_RESET" "$*" >&2; }
log_error() { printf '%serror%s %s\n' "$C_RED" "$C_RESET" "$*" >&2; }
log_dim() { printf '%s%s%s\n' "$C_DIM" "$*" "$C_RESET" >&2; }
die() {
	log_error "$*"
	exit 1
}

# A path relative to the checkout, for shorter messages.
rel() { printf '%s' "${1#"$SHOP_ROOT"/}"; }

# Print the last lines of a log file, indented, to stderr (used when a
# component fails to start, so the reason is on screen and not only on disk).
log_tail() {
	local file=$1 lines=${2:-40}
	[[ -f "$file" ]] || return 0
	log_dim "--- last $lines lines of $(rel "$file") ---"
	tail -n "$lines" "$file" | sed 's/^/    /' >&2
	log_dim "--- end of $(rel "$file") ---"
}

# Logs are appended to across starts; keep one previous generation once a
# log passes 20 MB, so a long-lived checkout does not fill the disk.
rotate_log() {
	local file=$1 size
	[[ -f "$file" ]] || return 0
	size=$(stat -c %s "$file")
	if ((size > 20 * 1024 * 1024)); then
		mv -f "$file" "$file.1"
	fi
}

# Seconds since the epoch with millisecond precision, for timing steps.
now_ms() { date +%s%3N; }
elapsed_since() { # start_ms -> "1.2s"
	local ms=$(($(now_ms) - $1))
	printf '%d.%ds' $((ms / 1000)) $(((ms % 1000) / 100))
}

ensure_run_dirs() {
	mkdir -p "$SHOP_RUN_DIR" "$SHOP_LOG_DIR" "$SHOP_PID_DIR"
}

# --- PID files -------------------------------------------------------------
pid_file() { printf '%s/%s.pid' "$SHOP_PID_DIR" "$1"; }

# The PID recorded in a PID file, or nothing (and status 1) if there is none
# or it is not a number.
pid_read() {
	local file=$1 pid
	[[ -f "$file" ]] || return 1
	pid=$(head -n1 "$file" 2>/dev/null || true)
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	printf '%s' "$pid"
}

# Alive = exists and is not a zombie. A killed process whose parent has not
# reaped it yet (here: PID 1, which reaps lazily) still answers kill -0, but it
# has exited and holds no ports.
pid_alive() {
	[[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) } # the state letter follows the parenthesised command name
	[[ "${stat:0:1}" != Z ]]
}

# True when PID is alive AND its command line contains NEEDLE (a path unique
# to this checkout, e.g. the data directory). Guards against PID reuse.
pid_is_ours() {
	local pid=$1 needle=$2 cmdline
	pid_alive "$pid" || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ "$cmdline" == *"$needle"* ]]
}

# Echo the PID of component NAME if its PID file points at a live process of
# ours. If the PID file is stale (process gone, or the PID now belongs to
# something else), say so, remove it and return 1.
pid_running() {
	local name=$1 needle=$2 file pid
	file=$(pid_file "$name")
	pid=$(pid_read "$file") || {
		[[ -e "$file" ]] && {
			log_warn "$name: unreadable PID file $(rel "$file"), removing it"
			rm -f "$file"
		}
		return 1
	}
	if pid_is_ours "$pid" "$needle"; then
		printf '%s' "$pid"
		return 0
	fi
	if pid_alive "$pid"; then
		log_warn "$name: stale PID file $(rel "$file"): pid $pid is alive but is not our $name ($(pid_describe "$pid")); removing the PID file, not touching that process"
	else
		log_warn "$name: stale PID file $(rel "$file"): pid $pid is not running (crashed or killed?); removing it"
	fi
	rm -f "$file"
	return 1
}

# "pid 123 (java ...)" for messages.
pid_describe() {
	local pid=$1 cmd
	cmd=$(ps -o args= -p "$pid" 2>/dev/null | cut -c1-100) || true
	printf 'pid %s: %s' "$pid" "${cmd:-?}"
}

# Wait until PID has exited; status 1 if it is still alive after TIMEOUT seconds.
pid_wait_exit() {
	local pid=$1 timeout=${2:-30} waited=0
	while pid_alive "$pid"; do
		if ((waited >= timeout * 10)); then
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	return 0
}

# SIGTERM, wait, and SIGKILL as a last resort. Only ever called with a PID that
# pid_running vouched for. Sets PID_STOP_KILLED=1 when SIGKILL was needed.
# shellcheck disable=SC2034 # PID_STOP_KILLED is read by the callers
PID_STOP_KILLED=0
# shellcheck disable=SC2034
pid_stop() {
	local name=$1 pid=$2 timeout=${3:-60}
	PID_STOP_KILLED=0
	kill -TERM "$pid" 2>/dev/null || true
	if ! pid_wait_exit "$pid" "$timeout"; then
		PID_STOP_KILLED=1
		log_warn "$name (pid $pid) did not exit ${timeout}s after SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		pid_wait_exit "$pid" 10 || die "$name (pid $pid) survived SIGKILL"
	fi
}

# --- ports -----------------------------------------------------------------
# True if something listens on TCP PORT on any local address. ss reads the
# kernel's socket table; no packet is sent.
port_in_use() {
	local port=$1
	[[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
}

# The PID of the process listening on PORT, if ss can see it (it can for our
# own processes and, as root, for everyone's).
port_owner_pid() {
	local port=$1
	ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2
}

# Fail with a message that names the port, who holds it, and what to do.
port_require_free() {
	local port=$1 what=$2 var=$3 owner
	port_in_use "$port" || return 0
	owner=$(port_owner_pid "$port" || true)
	if [[ -n "$owner" ]]; then
		owner=$(pid_describe "$owner")
	else
		owner="(this user cannot see which process; try: sudo ss -ltnp 'sport = :$port')"
	fi
	die "$what: port $port is already in use by a process that is not ours (no PID file of ours points at it):
      $owner
    Stop that process, or use another port for this checkout: $var=<free port> make infra-up"
}
