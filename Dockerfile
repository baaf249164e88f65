# Hoard: one image for operator, workers, loader, CSI node plugin and FUSE mount pods (`hoard <command>`).
# Build it with `npm run image` (docker, or buildah where there is no Docker engine).
FROM node:24-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
# On a network that intercepts TLS, npm needs that CA: `npm run image` passes the machine's bundle as
# the build secret npm-ca, mounted for this step only and never stored in a layer.
RUN --mount=type=secret,id=npm-ca \
    if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi \
 && npm ci --no-audit --no-fund
COPY . .
# /out/app is everything the commands load at run time: the compiled code, production
# node_modules (fuse-native's addon built or fetched by npm ci for this Node) and the files read
# from the package root (test/image.test.ts starts every long-running command to prove the list).
RUN npx tsc -p tsconfig.json && npm prune --omit=dev \
 && mkdir -p /out/app \
 && cp -a package.json node_modules dist /out/app/ \
 && cp -a --parents worker/proto/*.proto csi/proto/*.proto crds /out/app/ \
 && chmod +x /out/app/dist/bin/hoard.js

FROM node:24-bookworm-slim
# fuse3 brings fusermount (fuse-native's libfuse2 runs it to unmount; mount pods need it); the
# `fuse` package would conflict with fuse3. mount/util-linux: the CSI plugin's bind mounts.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fuse3 libfuse2 ca-certificates mount util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /app/dist/bin/hoard.js /usr/local/bin/hoard
COPY --from=build /out/app /app
WORKDIR /app
ENTRYPOINT ["hoard"]
