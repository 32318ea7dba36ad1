#!/usr/bin/env bash
# Proves the image design end to end on a throwaway stand-in workspace, so it
# can be re-checked on any machine before (and independently of) the real
# services: `make images-selftest`.
#
# The stand-in mirrors the repository's layout: a root package.json with
# workspaces, packages/lib (exports ./dist/index.js, TypeScript under the
# `source` condition), services/hello (Fastify, imports @shop/lib, has
# prisma/migrations, a test and dev dependencies) and services/bye (Fastify
# only); the root has a postinstall script that needs a dev-only binary, as
# `patch-package` would. It gets this checkout's Dockerfile, .dockerignore and
# deploy/containers/assemble.mjs plus one target block per service, and is
# built with scripts/images.sh. Then each image is run with podman (host
# network, read-only root) and checked: answers GET /health/live on 127.0.0.1,
# runs as uid 1000, cannot write its root filesystem, exits 0 promptly on
# SIGTERM, and holds no sources, tests, dev dependencies or other services'
# dependencies.
#
# Environment: SHOP_SELFTEST_DIR (default: a fresh temporary directory, kept
# on failure), SHOP_SELFTEST_PORT (default 18080).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/containers.sh
source "$here/lib/containers.sh"
containers_require_root

dir="${SHOP_SELFTEST_DIR:-$(mktemp -d /tmp/shop-images-selftest.XXXXXX)}"
port="${SHOP_SELFTEST_PORT:-18080}"
tag="selftest"
failures=0
check() { # description, command...
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then
		log_ok "$what"
	else
		log_error "FAILED: $what"
		failures=$((failures + 1))
	fi
}

log_info "stand-in workspace in $dir"
mkdir -p "$dir"/{packages/lib/src,packages/lib/test,services/hello/src,services/hello/test,services/hello/prisma/migrations/0001_init,services/bye/src,deploy/containers}
cd "$dir"
cp "$SHOP_ROOT/.npmrc" "$SHOP_ROOT/tsconfig.base.json" "$SHOP_ROOT/.dockerignore" .
cp "$SHOP_ROOT/deploy/containers/assemble.mjs" deploy/containers/
cat >package.json <<'EOF'
{
  "name": "standin",
  "private": true,
  "type": "module",
  "engines": { "node": ">=24.11.0" },
  "workspaces": ["packages/*", "services/*"],
  "scripts": {
    "build": "npm run build --workspaces --if-present",
    "postinstall": "tsc --version"
  },
  "devDependencies": { "@types/node": "^24.19.4", "typescript": "^5.9.3" }
}
EOF
cat >packages/lib/package.json <<'EOF'
{
  "name": "@shop/lib",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "exports": { ".": { "source": "./src/index.ts", "types": "./dist/index.d.ts", "default": "./dist/index.js" } },
  "scripts": { "build": "tsc -p tsconfig.build.json" },
  "dependencies": { "ms": "^2.1.3" },
  "devDependencies": { "@types/ms": "^2.1.0" }
}
EOF
for pkg in packages/lib services/hello services/bye; do
	cat >"$pkg/tsconfig.build.json" <<'EOF'
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "outDir": "dist", "rootDir": "src", "customConditions": [] },
  "include": ["src"]
}
EOF
done
cat >packages/lib/src/index.ts <<'EOF'
import ms from "ms";

export function liveness(startedAt: number): { status: "ok"; uptime: string } {
	return { status: "ok", uptime: ms(Date.now() - startedAt) };
}
EOF
echo 'export {};' >packages/lib/test/lib.test.ts
cat >services/hello/package.json <<'EOF'
{
  "name": "@shop/hello",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": { "build": "tsc -p tsconfig.build.json" },
  "dependencies": { "@shop/lib": "*", "fastify": "^5.6.0" },
  "devDependencies": { "pino-pretty": "^13.0.0" }
}
EOF
cat >services/bye/package.json <<'EOF'
{
  "name": "@shop/bye",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": { "build": "tsc -p tsconfig.build.json" },
  "dependencies": { "fastify": "^5.6.0" }
}
EOF
# The same process shape as the real services' main.ts: listen on HOST:PORT,
# close the server and exit 0 on SIGTERM/SIGINT.
main_ts() { # import line, liveness expression
	cat <<EOF
$1
import Fastify from "fastify";

const startedAt = Date.now();
const app = Fastify({ logger: true });
app.get("/health/live", async () => $2);
app.get("/whoami", async () => ({ uid: process.getuid?.(), pid: process.pid, nodeEnv: process.env.NODE_ENV }));

// Node as PID 1 gets no default signal handling: without these handlers a
// SIGTERM would be ignored and the runtime would SIGKILL after its grace period.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
	process.once(signal, async () => {
		app.log.info({ signal }, "shutting down");
		await app.close();
		process.exit(0);
	});
}

await app.listen({ host: process.env.HOST ?? "0.0.0.0", port: Number(process.env.PORT ?? 8080) });
EOF
}
main_ts 'import { liveness } from "@shop/lib";' 'liveness(startedAt)' >services/hello/src/main.ts
main_ts '' '({ status: "ok", uptimeMs: Date.now() - startedAt })' >services/bye/src/main.ts
echo 'export {};' >services/hello/test/main.test.ts
printf -- '-- CreateTable\nCREATE TABLE "Greeting" ("id" SERIAL PRIMARY KEY);\n' >services/hello/prisma/migrations/0001_init/migration.sql
printf 'provider = "postgresql"\n' >services/hello/prisma/migrations/migration_lock.toml
{
	cat "$SHOP_ROOT/Dockerfile"
	for svc in hello bye; do
		printf '\nFROM runtime AS %s\nCOPY --from=prod-deps /prod/%s/ /app/\nCOPY --from=build /out/%s/ /app/\nWORKDIR /app/services/%s\n' "$svc" "$svc" "$svc" "$svc"
	done
} >Dockerfile

log_info "npm install (writes the stand-in's lockfile)"
npm install --no-audit --no-fund --loglevel=error >/dev/null

SHOP_IMAGES_CONTEXT="$dir" SHOP_IMAGE_TAG="$tag" "$here/images.sh" build hello bye

for svc in hello bye; do
	image="localhost/shop-$svc:$tag"
	name="shop-$svc"
	log_info "$image: run, probe, stop"
	SHOP_IMAGE_TAG="$tag" "$here/images.sh" run "$svc" -e HOST=127.0.0.1 -e PORT="$port"
	up=
	for _ in $(seq 1 100); do
		if curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1; then
			up=1
			break
		fi
		sleep 0.1
	done
	check "$svc answers GET /health/live on 127.0.0.1:$port" test -n "$up"
	whoami=$(curl -fsS "http://127.0.0.1:$port/whoami" || true)
	check "$svc runs as uid 1000, as PID 1, with NODE_ENV=production ($whoami)" \
		test "$whoami" = '{"uid":1000,"pid":1,"nodeEnv":"production"}'
	check "$svc cannot write its root filesystem" bash -c "! podman exec $name touch /app/x"
	start=$(now_ms)
	podman stop --time 30 "$name" >/dev/null
	took=$(($(now_ms) - start))
	code=$(podman container inspect --format '{{.State.ExitCode}}' "$name")
	check "$svc exits 0 on SIGTERM within 5 s (exit $code after ${took} ms)" test "$code" = 0 -a "$took" -lt 5000
	check "$svc logged its SIGTERM shutdown" bash -c "podman logs $name 2>&1 | grep -q '\"signal\":\"SIGTERM\"'"
	podman rm "$name" >/dev/null
	files=$(podman run --rm --network=host --entrypoint sh "$image" -c 'find /app -path "*/node_modules" -prune -o -type f -print; ls /app/node_modules /app/node_modules/@shop')
	check "$svc: no TypeScript sources, tests, source maps or type declarations" \
		bash -c "! grep -E '\\.ts\$|\\.map\$|/test/|/src/' <<<'$files'"
	check "$svc: no dev dependencies (typescript, @types, pino-pretty)" \
		bash -c "! grep -xE 'typescript|pino-pretty|@types' <<<'$files'"
	check "$svc: compiled entry point services/$svc/dist/main.js" grep -qx "/app/services/$svc/dist/main.js" <<<"$files"
	log_dim "$image: $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"
done
hello_files=$(podman run --rm --network=host --entrypoint sh "localhost/shop-hello:$tag" -c 'find /app -path "*/node_modules/*" -prune -o -print; ls /app/node_modules')
bye_files=$(podman run --rm --network=host --entrypoint sh "localhost/shop-bye:$tag" -c 'find /app -path "*/node_modules/*" -prune -o -print; ls /app/node_modules')
check "hello has its migrations (prisma/migrations/0001_init/migration.sql)" grep -qx /app/services/hello/prisma/migrations/0001_init/migration.sql <<<"$hello_files"
check "hello has the compiled workspace package it imports (packages/lib/dist)" grep -qx /app/packages/lib/dist/index.js <<<"$hello_files"
check "bye has neither packages/lib nor its dependency ms (other service's deps)" bash -c "! grep -E '^/app/packages|^ms\$' <<<'$bye_files'"
check "no build-time CA secret left in the image" bash -c "! podman run --rm --network=host --entrypoint sh localhost/shop-hello:$tag -c 'test -e /run/secrets/extra_ca_certs'"

podman images --filter 'reference=localhost/shop-*' --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E ":$tag |shop-node-base" >&2 || true
if ((failures > 0)); then
	die "$failures check(s) failed; the stand-in is kept in $dir"
fi
[[ -n "${SHOP_SELFTEST_DIR:-}" ]] || rm -rf "$dir"
log_ok "image design verified on the stand-in (images localhost/shop-{hello,bye}:$tag)"
