# vibe-curate: workers, dashboard and CLI from one image, running the compiled JavaScript.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# onnxruntime-node's CPU binary ships in the package; its install script would fetch GPU ones.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY cli ./cli
COPY pipeline ./pipeline
COPY workers ./workers
COPY db ./db
COPY migrations ./migrations
COPY dashboards ./dashboards
# npm ci builds dist/ (prepare); then the dev tools are dropped.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev && npm cache clean --force

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production DATA_DIR=/data
COPY package.json ./
COPY bin ./bin
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY test/fixtures/images ./test/fixtures/images
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
ENTRYPOINT ["node", "bin/vibe-curate.mjs"]
CMD ["--help"]
