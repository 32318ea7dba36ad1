# The services' container images: one multi-stage Dockerfile, one final target
# per service (a `FROM runtime AS <service>` block at the end).
#
#   docker build --target orders -t shop-orders .     (Docker 23+ / BuildKit)
#   scripts/images.sh build orders                     (here: buildah, local base image)
#
# docs/images.md explains the stages, the choices and what was verified.

# The official image on a machine with a registry; scripts/images.sh passes
# its locally built stand-in (localhost/shop-node-base:20-bookworm).
ARG BASE_IMAGE=node:20-bookworm-slim

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

# ---- build: compile every workspace package to dist/ (`npm run build`), then
# lay out each service's own files under /out/<service>/.
FROM deps AS build
COPY . .
RUN npm run build \
 && node deploy/containers/assemble.mjs app /out

# ---- prod-deps: per service, only its production dependencies, under
# /prod/<service>/ (depends on the manifests only, so a source edit reuses it).
FROM deps AS prod-deps
COPY deploy/containers/assemble.mjs /usr/local/lib/shop/assemble.mjs
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    --mount=type=secret,id=extra_ca_certs,required=false \
    if [ -s /run/secrets/extra_ca_certs ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca_certs; fi \
 && node /usr/local/lib/shop/assemble.mjs deps /prod

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

# ---- one block per service: its production node_modules, then its compiled
# code (the layer that changes most often, last).
#
# FROM runtime AS <service>
# COPY --from=prod-deps /prod/<service>/ /app/
# COPY --from=build /out/<service>/ /app/
# WORKDIR /app/services/<service>
