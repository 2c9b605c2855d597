# syntax=docker/dockerfile:1
# Production image of TrialMatch CDS: compiled JavaScript on Node 20, no dev dependencies, non-root.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
# The compose file's one-shot example loader runs from this stage (it has tsx and the sources).
COPY scripts ./scripts
COPY cds-hooks ./cds-hooks

FROM node:20-bookworm-slim
WORKDIR /app
# Listens on every interface (npm start binds 127.0.0.1). With NODE_ENV=production the service refuses to start
# without TRUST_CONFIG (a real trust file, mounted) and PUBLIC_BASE_URL, and never uses the development trust
# (docs/security.md, issue #12 item 1).
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY fhir-mappings ./fhir-mappings
COPY cds-hooks ./cds-hooks
COPY public ./public
COPY config ./config
# Applied at start when DATABASE_URL is set (src/store/postgres/migrate.ts).
COPY migrations ./migrations
# Feedback journal (FEEDBACK_FILE defaults to data/feedback.jsonl): mount a volume here to keep it.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "dist/src/server.js"]
