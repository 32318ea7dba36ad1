#!/usr/bin/env bash
# Runs the README's customer journey (the code block after "A customer's
# journey") as it is written, against a running stack: the gateway given as
# $1 (default http://127.0.0.1:8080, `make dev`'s). Only the commands a fresh
# Debian has once `make dev` has installed its packages are on the PATH
# (bash, coreutils, curl, jq, node), so a walkthrough that needs anything
# else (uuidgen, say) fails here as it would for a newcomer.
set -euo pipefail
cd "$(dirname "$0")/.."

gateway=${1:-http://127.0.0.1:8080}

# The fenced block that follows the "A customer's journey" paragraph.
block=$(awk '
	/^A customer.s journey/ { found = 1 }
	found && /^```sh$/ { inside = 1; next }
	inside && /^```$/ { exit }
	inside { print }
' README.md)
[[ -n "$block" ]] || { echo "README.md: no customer journey code block found" >&2; exit 1; }
block=${block//http:\/\/127.0.0.1:8080/$gateway}

# A PATH of the allowed commands only.
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
for command in bash sh cat env sleep curl jq node; do
	path=$(command -v "$command") || { echo "$command is not installed (make install installs it)" >&2; exit 1; }
	ln -s "$path" "$bin/$command"
done

PATH="$bin" bash -euo pipefail -c "$block"
