# The services' container images: one multi-stage Dockerfile, one final target
# per service (a `FROM runtime AS <service>` block at the end).
#
#   docker build --target orders -t shop-orders .     (Docker 23+ / BuildKit)
#   scripts/images.sh build orders                     (here: buildah, local base image)
#
# docs/images.md explains the stages, the choices and what was verified.

# The official image on a machine with a registry; scripts/images.sh passes
# its locally built stand-in (localhost/shop-node-base:24-bookworm).
ARG BASE_IMAGE=node:24-bookworm-slim

# ---- manifests: the package.json files and the lockfile, nothing else, so the
# dependency installs below are reused until a manifest changes (a source edit
# changes this stage's input but not its output).
FROM ${BASE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json ! -name .npmrc ! -path './patches/*' -delete \
 && find . -mindepth 1 -type d -empty -delete

# ---- deps: every dependency of the workspace, dev included, for the build.
# The npm cache is a cache mount (kept between builds, never in a layer). The
# optional extra_ca_certs secret is for networks whose TLS goes through a
# proxy CA (scripts/images.sh passes this machine's bundle); it is mounted only
# while the step runs and is not written into any image.
FROM ${BASE_IMAGE} AS deps
WORKDIR /src
COPY --from=manifests /src/ ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    --mount=type=secret,id=extra_ca_certs,required=false \
    if [ -s /run/secrets/extra_ca_certs ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca_certs; fi \
 && npm ci --prefer-offline --no-audit --no-fund

# ---- build: compile the deployables and the workspace packages they use to
# dist/ (each one's `npm run build`: a service's runs `prisma generate` first,
# offline and without a DATABASE_URL, then tsc; the CLI, benchmarks and test
# kit are not built), then lay out each deployable's own files under
# /out/<name>/.
FROM deps AS build
COPY . .
RUN npm run build --if-present $(node deploy/containers/assemble.mjs workspaces 'services/*' tools/smoke tools/load | sed 's/^/--workspace=/') \
 && node deploy/containers/assemble.mjs app /out 'services/*' tools/smoke tools/load

# ---- prod-deps: per deployable, only its production dependencies, copied out
# of the full install above (the packages `npm ls --omit=dev --workspace`
# names: the same set, at the same paths, as its own `npm ci --omit=dev
# --workspace` would install, already patched), checked for the patches and
# trimmed of what nothing loads at run time, under /prod/<name>/. Depends on
# the manifests only, so a source edit reuses it; no network.
FROM deps AS prod-deps
COPY deploy/containers/assemble.mjs /usr/local/lib/shop/assemble.mjs
RUN node /usr/local/lib/shop/assemble.mjs deps /prod 'services/*' tools/smoke tools/load

# ---- runtime: what every service image shares. Node runs as PID 1 with no
# init: each service's main.ts handles SIGTERM (drain, close, exit) and spawns
# no children, so there is nothing for tini to forward or reap. The numeric
# non-root user lets Kubernetes verify runAsNonRoot; the files are root-owned
# and read-only to it. No HEALTHCHECK: Kubernetes probes do that.
FROM ${BASE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
USER 1000:1000
CMD ["node", "dist/main.js"]

# ---- instrumented: what every service image shares on top of runtime. The
# platform's telemetry must be loaded before the service's own modules
# (packages/platform/src/instrument.ts), so the command imports it first;
# it resolves from /app/services/<name> through node_modules/@shop/platform
# (-> /app/packages/platform, its package.json `exports` and dist/).
FROM runtime AS instrumented
CMD ["node", "--import", "@shop/platform/instrument", "dist/main.js"]

# ---- one block per service: its production node_modules, then its compiled
# code (the layer that changes most often, last). The working directory is the
# service's folder, where its prisma.config.ts and prisma/ are, so the
# migration Job runs the same image with
#   node /app/node_modules/prisma/build/index.js migrate deploy
#
# FROM instrumented AS <service>
# COPY --from=prod-deps /prod/<service>/ /app/
# COPY --from=build /out/<service>/ /app/
# WORKDIR /app/services/<service>

FROM instrumented AS gateway
COPY --from=prod-deps /prod/gateway/ /app/
COPY --from=build /out/gateway/ /app/
WORKDIR /app/services/gateway
# Garbage collected on the main thread alone (the chart's services.gateway.nodeFlags says why).
CMD ["node", "--single-threaded-gc", "--import", "@shop/platform/instrument", "dist/main.js"]

# Also runs `node dist/seed.js` (the admin account) and `node dist/keygen.js`
# (a fresh USER_TOKEN_SIGNING_KEYS value with --array).
FROM instrumented AS users
COPY --from=prod-deps /prod/users/ /app/
COPY --from=build /out/users/ /app/
WORKDIR /app/services/users

# Also runs `node dist/seed.js` (the demo products).
FROM instrumented AS inventory
COPY --from=prod-deps /prod/inventory/ /app/
COPY --from=build /out/inventory/ /app/
WORKDIR /app/services/inventory

FROM instrumented AS payments
COPY --from=prod-deps /prod/payments/ /app/
COPY --from=build /out/payments/ /app/
WORKDIR /app/services/payments

FROM instrumented AS shipping
COPY --from=prod-deps /prod/shipping/ /app/
COPY --from=build /out/shipping/ /app/
WORKDIR /app/services/shipping

FROM instrumented AS orders
COPY --from=prod-deps /prod/orders/ /app/
COPY --from=build /out/orders/ /app/
WORKDIR /app/services/orders

FROM instrumented AS notifications
COPY --from=prod-deps /prod/notifications/ /app/
COPY --from=build /out/notifications/ /app/
WORKDIR /app/services/notifications

FROM instrumented AS payment-provider
COPY --from=prod-deps /prod/payment-provider/ /app/
COPY --from=build /out/payment-provider/ /app/
WORKDIR /app/services/payment-provider

# ---- smoke: the end-to-end suite (tools/smoke) for the Helm test Pod:
# SMOKE_BASE_URL (the gateway), SMOKE_PAYMENTS_URL, ... as in tools/smoke/src/run.ts.
FROM runtime AS smoke
COPY --from=prod-deps /prod/smoke/ /app/
COPY --from=build /out/smoke/ /app/
WORKDIR /app/tools/smoke
CMD ["node", "dist/run.js"]

# ---- load: the load generator (tools/load) for the chart's load Deployment
# (load.enabled): LOAD_BASE_URL, LOAD_RATE, ... as in tools/load/src/options.ts.
FROM runtime AS load
COPY --from=prod-deps /prod/load/ /app/
COPY --from=build /out/load/ /app/
WORKDIR /app/tools/load
CMD ["node", "dist/cli.js"]
