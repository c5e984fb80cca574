# linkflow's production image: the API (`npm run api`) and the worker (`npm run worker`), both run
# from dist/ (`npm run build`: plain JavaScript, the workflow bundle prebuilt, no tsx or webpack at
# run time).
FROM node:20.20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# Two glibc malloc arenas instead of 8 per core: the Temporal core's and libuv's threads otherwise
# each fragment their own arena (measured in issue 9: ~60 MB of worker RSS).
ENV MALLOC_ARENA_MAX=2
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build
# The image runs as `node`, not root, in a root-owned /app: the one directory it may write is the
# data dir (dev secrets and PGlite are never used with DATABASE_URL and the secrets set, but a
# writable home for them keeps a misconfiguration an error message, not an EACCES crash).
RUN mkdir -p /app/.data && chown node:node /app/.data
ENV LINKFLOW_DATA_DIR=/app/.data
USER node
EXPOSE 3000 9464
CMD ["npm", "run", "api"]
