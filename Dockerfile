# vibe-curate: workers, dashboard and CLI from one image. No build step: tsx runs the sources.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production DATA_DIR=/data
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY cli ./cli
COPY pipeline ./pipeline
COPY workers ./workers
COPY db ./db
COPY migrations ./migrations
COPY dashboards ./dashboards
COPY test/fixtures/images ./test/fixtures/images
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
ENTRYPOINT ["node", "bin/vibe-curate.mjs"]
CMD ["--help"]
