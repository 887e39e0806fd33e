# One image for both roles of the distributed deployment: API nodes (`npm run start:api`) and
# render workers (`npm run start:worker`). FFmpeg and ffprobe come from npm-shipped binaries and
# the text font from an npm package. From apt only the better offline voices of the pipeline's
# voice-over step: Festival with the HTS slt voice, and flite (espeak-ng WebAssembly from npm
# is the fallback without them).
FROM node:20-bookworm-slim

RUN apt-get update \
  && apt-get install -y --no-install-recommends festival festvox-us-slt-hts flite \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY server ./server
COPY realtime ./realtime
COPY render-farm ./render-farm
COPY shared ./shared
COPY client-sdk ./client-sdk
COPY tsconfig.json ./

RUN mkdir -p /data/storage && chown -R node:node /data
USER node
ENV DATA_DIR=/data STORAGE_DIR=/data/storage PORT=8080
EXPOSE 8080
# Plain `node`, not `npm run`, so SIGTERM reaches the process and shutdown is graceful.
CMD ["node", "--import", "tsx", "server/api-main.ts"]
