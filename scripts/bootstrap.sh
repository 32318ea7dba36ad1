#!/usr/bin/env bash
# Install what the project needs on a fresh machine (behind `make install`),
# idempotently:
#   - Node.js: the version .node-version pins, fetched from the npm registry
#     into the cache when the machine's own is older (scripts/lib/node.sh).
#   - Debian packages: PostgreSQL 15 (server binaries used directly by
#     scripts/infra.sh), a JRE and Maven (Kafka runs from Maven Central jars),
#     and the small tools the scripts and the README rely on (ss, ps,
#     runuser, flock, setpriv, curl, jq).
#   - npm dependencies with `npm ci` from the committed package-lock.json
#     (never `npm install`, which would rewrite it), only when node_modules is
#     missing or package-lock.json changed since the last install (sha256
#     stamp in node_modules/).
# A warm run (everything present) must take about a second and print little,
# because every make target that needs dependencies runs it.
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/node.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/node.sh"

# Debian 12 package names. postgresql-15 explicitly (not just the `postgresql`
# metapackage) because the scripts call /usr/lib/postgresql/15/bin/*.
APT_PACKAGES=(
	postgresql-15           # initdb, pg_ctl, postgres
	postgresql-client-15    # psql
	openjdk-17-jre-headless # runs the Kafka broker (3.9 runs on 17; 4.x requires 17)
	maven                   # fetches the Kafka broker jars from Maven Central
	procps                  # ps, pgrep
	iproute2                # ss (port checks)
	util-linux              # runuser, flock, setsid, setpriv
	python3-venv            # the API fuzzer's virtualenv (scripts/schemathesis.sh)
	curl                    # the README's walkthrough (scripts/readme-walkthrough.sh)
	jq                      # the README's walkthrough
)

# Wait up to 10 minutes for dpkg's lock: other agents and CI steps may be
# running apt on the same machine at the same time.
APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -q)

missing_apt_packages() {
	local pkg status
	for pkg in "${APT_PACKAGES[@]}"; do
		# One cheap dpkg database read per package; no apt cache, no network.
		status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
		[[ "$status" == installed ]] || printf '%s\n' "$pkg"
	done
}

as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run: $* (install sudo or run this as root)"
	fi
}

# `apt-get update` takes the lists lock, which DPkg::Lock::Timeout does not
# cover on every apt version, so retry on "Could not get lock" ourselves.
apt_update() {
	local try out
	for try in $(seq 1 60); do
		if out=$(as_root apt-get "${APT_OPTS[@]}" update 2>&1); then
			return 0
		fi
		if [[ "$out" == *"Could not get lock"* ]]; then
			((try == 1)) && log_info "apt lists are locked by another process; waiting"
			sleep 10
			continue
		fi
		printf '%s\n' "$out" >&2
		die "apt-get update failed"
	done
	die "apt-get update: the lists lock stayed busy for 10 minutes"
}

install_apt_packages() {
	local -a missing
	mapfile -t missing < <(missing_apt_packages)
	((${#missing[@]} == 0)) && return 0

	local t0 log="$SHOP_LOG_DIR/apt-install.log"
	t0=$(now_ms)
	ensure_run_dirs
	log_info "installing Debian packages: ${missing[*]} (log: $(rel "$log"))"
	# Only now, because a package is actually missing: refresh the package lists.
	apt_update
	if ! as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get "${APT_OPTS[@]}" install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
		log_tail "$log"
		die "apt-get install failed"
	fi
	log_ok "Debian packages installed in $(elapsed_since "$t0")"
}

# --- npm ---------------------------------------------------------------------
# The stamp records the sha256 of package-lock.json that node_modules was
# installed from. It lives inside node_modules so that deleting node_modules
# also deletes the stamp.
NPM_STAMP="$SHOP_ROOT/node_modules/.shop-lock.sha256"

install_npm_packages() {
	local lock="$SHOP_ROOT/package-lock.json" want have=""
	local hidden="$SHOP_ROOT/node_modules/.package-lock.json"
	want=$(sha256sum "$lock" | cut -d' ' -f1)
	[[ -f "$NPM_STAMP" ]] && have=$(<"$NPM_STAMP")
	[[ "$want" == "$have" ]] && return 0

	# The lock file differs from our stamp, but maybe npm itself already
	# installed from it: a developer ran `npm install <pkg>` (which rewrites
	# package-lock.json and then node_modules), or node_modules predates the
	# stamp. npm writes node_modules/.package-lock.json at the very end of
	# every install; if it is at least as new as package-lock.json, the last
	# install used the current lock. Adopt it instead of wiping node_modules
	# under whoever is using it. A lock changed by git (pull, checkout) is
	# newer than that file, so it does get a fresh `npm ci`.
	if [[ -d "$SHOP_ROOT/node_modules" && -f "$hidden" && ! "$lock" -nt "$hidden" ]]; then
		printf '%s\n' "$want" >"$NPM_STAMP"
		log_dim "node_modules was installed from the current package-lock.json (stamp updated)"
		return 0
	fi

	local t0 log="$SHOP_LOG_DIR/npm-ci.log"
	t0=$(now_ms)
	ensure_run_dirs
	if [[ -d "$SHOP_ROOT/node_modules" ]]; then
		log_info "package-lock.json changed since the last install: npm ci (log: $(rel "$log"))"
	else
		log_info "node_modules missing: npm ci (log: $(rel "$log"))"
	fi
	if ! (cd "$SHOP_ROOT" && npm ci --no-audit --no-fund) >"$log" 2>&1; then
		# npm prints its whole usage text after a lock-file error; the first
		# lines say what is wrong. A lock that npm ci refuses is a defect to
		# fix in the commit that broke it (CONTRIBUTING.md, "The lock file"),
		# not something to paper over with `npm install` on every machine.
		grep -m 15 -v '^npm error  ' "$log" | sed 's/^/    /' >&2 || true
		die "npm ci failed (full log: $(rel "$log"))"
	fi
	printf '%s\n' "$want" >"$NPM_STAMP"
	log_ok "npm dependencies installed in $(elapsed_since "$t0")"
}

# The Prisma clients are generated (git-ignored) from each service's schema:
# regenerate a service's client when it is missing or older than its schema.
generate_prisma_clients() {
	local dir service client schema stale=()
	for dir in "$SHOP_ROOT"/services/*/prisma/schema; do
		[[ -d "$dir" ]] || continue
		service=$(basename "$(dirname "$(dirname "$dir")")")
		client="$SHOP_ROOT/services/$service/src/generated/prisma/client.ts"
		if [[ ! -f "$client" ]]; then
			stale+=("$service")
			continue
		fi
		for schema in "$dir"/*.prisma; do
			if [[ "$schema" -nt "$client" ]]; then
				stale+=("$service")
				break
			fi
		done
	done
	((${#stale[@]} == 0)) && return 0
	local t0 log="$SHOP_LOG_DIR/prisma-generate.log"
	t0=$(now_ms)
	ensure_run_dirs
	log_info "generating Prisma clients: ${stale[*]}"
	: >"$log"
	for service in "${stale[@]}"; do
		if ! (cd "$SHOP_ROOT/services/$service" && node "$SHOP_ROOT/node_modules/prisma/build/index.js" generate) >>"$log" 2>&1; then
			log_tail "$log"
			die "prisma generate failed for $service"
		fi
	done
	log_ok "Prisma clients generated in $(elapsed_since "$t0")"
}

install_apt_packages
node_ensure
install_npm_packages
generate_prisma_clients
