#!/usr/bin/env bash
# The schema-based API fuzzer (schemathesis, from PyPI) in a virtualenv of the
# project's own under the cache, at the versions pinned in
# scripts/fuzz/requirements.txt. Idempotent: a warm run only checks a stamp.
# Prints the path of the schemathesis executable on stdout.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REQUIREMENTS="$SHOP_ROOT/scripts/fuzz/requirements.txt"
# Keyed by the pinned set, so a bump installs beside the old one instead of mixing.
key=$(sha256sum "$REQUIREMENTS" | cut -c1-12)
VENV="$SHOP_CACHE_DIR/schemathesis-$key"
BIN="$VENV/bin/schemathesis"

# Written last, so an install cut short is redone rather than used.
COMPLETE="$VENV/.shop-complete"

if [[ ! -f "$COMPLETE" ]]; then
	# Debian's python3 with python3-venv (scripts/bootstrap.sh installs it).
	PYTHON=$(command -v /usr/bin/python3 || command -v python3) || die "python3 is missing (make install)"
	ensure_run_dirs
	log="$SHOP_LOG_DIR/schemathesis-install.log"
	t0=$(now_ms)
	log_info "installing schemathesis into $VENV (log: $(rel "$log"))"
	rm -rf "$VENV"
	mkdir -p "$SHOP_CACHE_DIR"
	if ! { "$PYTHON" -m venv "$VENV" &&
		"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"; } >"$log" 2>&1; then
		log_tail "$log"
		die "could not install schemathesis"
	fi
	touch "$COMPLETE"
	log_ok "schemathesis installed in $(elapsed_since "$t0")"
fi
printf '%s\n' "$BIN"
