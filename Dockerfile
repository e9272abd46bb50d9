# syntax=docker/dockerfile:1
# Node 24, one of the two majors the suite runs on (.ci/run: 22 and 24; engines >= 22.13): its
# AsyncLocalStorage is AsyncContextFrame, so tracing (OTEL_EXPORTER_OTLP_ENDPOINT) costs no hook
# per promise; Node 22 needs --experimental-async-context-frame for that (README, "Tracing").
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No dev tools and no embedded PostgreSQL (an optional dependency for development): the image
# runs on DATABASE_URL. test/integration/production-install.spec.ts checks this install.
RUN npm ci --omit=dev --omit=optional && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
# Secrets are best given as files (Docker/Kubernetes secrets) rather than variables: every secret
# variable has a `<VAR>_FILE` form, read once at start (README, "Configuration"), e.g.
#   docker run -e DATABASE_URL_FILE=/run/secrets/database_url -e API_KEYS_FILE=/run/secrets/api_keys \
#     -e TOKEN_ENCRYPTION_KEY_FILE=/run/secrets/token_encryption_key -e RD_CRM_CLIENT_ID=… \
#     -e RD_CRM_CLIENT_SECRET_FILE=/run/secrets/rd_crm_client_secret -v "$PWD/secrets:/run/secrets:ro" …
# The files must be readable by the image's user `node` (uid 1000). docker-compose.yml does this.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--max-semi-space-size=4", "dist/main.js"]
