#!/usr/bin/env bash
# Runs the README's customer journey (the code block after "A customer's
# journey", then the one after "A v2 order with curl") as it is written,
# against a running stack: the gateway given as $1 (default
# http://127.0.0.1:8080, `make dev`'s). Only the commands a fresh
# Debian has once `make dev` has installed its packages are on the PATH
# (bash, coreutils, curl, jq, node), so a walkthrough that needs anything
# else (uuidgen, say) fails here as it would for a newcomer.
set -euo pipefail
cd "$(dirname "$0")/.."

gateway=${1:-http://127.0.0.1:8080}

# The fenced block that follows the paragraph starting with $1.
block_after() {
	awk -v start="$1" '
		index($0, start) == 1 { found = 1 }
		found && /^```sh$/ { inside = 1; next }
		inside && /^```$/ { exit }
		inside { print }
	' README.md
}
journey=$(block_after "A customer's journey")
v2=$(block_after "A v2 order with curl")
[[ -n "$journey" && -n "$v2" ]] || { echo "README.md: a walkthrough code block is missing" >&2; exit 1; }
# The v2 order continues the journey (it uses its token and product), in the same shell.
block="$journey"$'\n'"$v2"
block=${block//http:\/\/127.0.0.1:8080/$gateway}

# A PATH of the allowed commands only.
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
for command in bash sh cat env sleep curl jq node; do
	path=$(command -v "$command") || { echo "$command is not installed (make install installs it)" >&2; exit 1; }
	ln -s "$path" "$bin/$command"
done

PATH="$bin" bash -euo pipefail -c "$block"
