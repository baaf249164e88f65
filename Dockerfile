# Hoard: one image for operator, workers, loader and CSI node plugin (`hoard <command>`).
FROM node:24-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends fuse libfuse2 ca-certificates util-linux \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/worker/proto ./worker/proto
COPY --from=build /app/crds ./crds
RUN ln -s /app/dist/bin/hoard.js /usr/local/bin/hoard && chmod +x /app/dist/bin/hoard.js
ENTRYPOINT ["hoard"]
