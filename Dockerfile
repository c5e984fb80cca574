# linkflow's production image: the API (`npm run api`) and the worker (`npm run worker`).
FROM node:20.20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
USER node
EXPOSE 3000 9464
CMD ["npm", "run", "api"]
