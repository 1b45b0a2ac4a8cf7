# syntax=docker/dockerfile:1
# fapi-gateway container image.
#   docker build -t fapi-gateway:0.1.0 .
#   docker run --rm --read-only -p 8443:8443 -p 127.0.0.1:9090:9090 \
#     -v "$PWD/gateway:/etc/fapi-gateway:ro" -e REDIS_URL fapi-gateway:0.1.0
# (as README "Container image": gateway/ holds config.yaml and tls/; the directory is mounted, not the
# file, so hot reload sees edits; the admin port stays on the host's loopback)
# The runtime stage holds production dependencies, dist/, bin/ and config/ only, runs as uid 10001, writes
# nothing to its filesystem (logs are JSON on stdout), and starts node directly so SIGTERM reaches the
# gateway's drain.

# ---- build: compile TypeScript to dist/ ------------------------------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (npm run build) needs the sources, which are copied below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
COPY config ./config
RUN npm run build

# ---- runtime ---------------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /root/.npm /tmp/* \
 && groupadd --system --gid 10001 fapi \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin fapi
# Files stay owned by root: the gateway user can read, never modify, its own code.
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/config ./config
USER 10001:10001
# 8443: the HTTPS API listener (server.listen). 9090: the plain-HTTP admin listener (admin.listen):
# /livez, /readyz, /metrics.
EXPOSE 8443 9090
# No HEALTHCHECK: the admin listener is optional and its address is set by the config; Kubernetes uses
# the chart's probes on /livez and /readyz.
ENTRYPOINT ["node", "bin/fapi-gateway.js"]
CMD ["--config", "/etc/fapi-gateway/config.yaml"]
