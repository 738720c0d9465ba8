# syntax=docker/dockerfile:1
# amber: one image, one binary. `amber responder` runs as uid 65532 (the image's user); the Helm
# chart runs `amber agent` as root because the kubelet writes checkpoint archives root:root 0600.
# Not built in amber's CI (no Docker engine there); scripts/image-dry-run.sh assembles the runtime
# stage's contents (production dependencies, dist/, policies/) and runs them as uid 65532.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json tsconfig.sim.json ./
COPY src ./src
# dist/sim (the simulated cluster behind `amber demo`) is built from test/sim.
COPY test/sim ./test/sim
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
# glibc keeps freed buffers instead of returning them to the kernel after every GC: streaming a
# GiB archive through encryption then stops page-faulting fresh memory back in. Measured in
# docs/benchmarks-history.md (bench/encrypt): ~3.0 → ~1.7 CPU s per GiB, ratio to `age -e` 0.42 → 0.67–0.70.
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY policies ./policies
# 65532: the customary "nonroot" uid/gid (distroless); no home, no shell needed.
USER 65532:65532
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
