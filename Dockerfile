# syntax=docker/dockerfile:1
#
# gitlab-runner-admission image. test/e2e/image.test.ts replays these steps (there is no Docker
# engine on the CI machines) and checks this file still has them; change both together.
#
# Base: Node.js 24, an LTS line with security fixes until April 2028 (Node 20 reached end of life
# on 2026-04-30; Node 26, LTS since October 2026, is the next move once CI and tests run on it). bookworm-slim rather than alpine: Alpine's musl resolver differs
# from glibc in ways that bite in clusters (search-domain and ndots handling, and no DNS-over-TCP
# fallback before musl 1.2.4), and the webhook resolves GitLab hosts when online verification is
# on; Node's musl builds are also an "experimental" tier upstream. The dependencies are pure
# JavaScript, so glibc costs only image size.
#
# Pinned by version and digest so a rebuild gets the same bytes. The digest is the multi-arch
# index of node:24-bookworm-slim = 24.18.1 (built 2026-07-30) as recorded by the Docker official
# images' own ledger, github.com/docker-library/repo-info repos/node/remote/24-bookworm-slim.md
# (commit 2fb42a7c). It could not be pulled from the machine that wrote this line; check it with
# `docker buildx imagetools inspect node:24.18.1-bookworm-slim` and, to take a newer 24.x, replace
# both the version and the digest from that command's output. Override with --build-arg NODE_IMAGE=….
ARG NODE_IMAGE=node:24.18.1-bookworm-slim@sha256:235600a8101ab264e117b1768e925532262668dc9b581ef1dd7d96ced463b8e7

# --- build: dev dependencies + TypeScript compile -> dist/
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only (no TypeScript, tap, ...)
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: node + production node_modules + dist. Nothing runs through a shell: exec-form
# ENTRYPOINT, and the chart's probes are kubelet httpGet, so no sh or curl is needed.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# V8 flags and glibc malloc settings: why in src/server/runtime.ts (test/unit/runtime.test.ts
# keeps these lines, `npm start` and that file equal)
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=160"
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
# Files stay owned by root and are only readable by the runtime user: the process cannot
# modify its own code (and the chart mounts the root filesystem read-only anyway).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Numeric user so Kubernetes can verify runAsNonRoot without a passwd entry (65532 is the
# conventional "nonroot" id of distroless images; the chart uses the same id).
USER 65532:65532
# 8443: HTTPS webhook (AdmissionReview, /healthz, /readyz); 9090: plain-HTTP /metrics.
EXPOSE 8443 9090
ENTRYPOINT ["node", "dist/cli/main.js", "serve"]
