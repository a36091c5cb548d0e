# One image holding one executable: Bun, the broker and lmdb's addon compiled together.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY bunfig.toml ./
COPY scripts ./scripts
COPY src ./src
RUN node_modules/.bin/bun scripts/build.ts /app/dist/chronik

FROM debian:bookworm-slim
COPY --from=build /app/dist/chronik /usr/local/bin/chronik
# Clients outside the container reach it through published ports on localhost; set
# CHRONIK_ADVERTISED_HOST to the name they use when that is not localhost.
ENV CHRONIK_DATA_DIR=/data \
    CHRONIK_HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 9092 8092
STOPSIGNAL SIGTERM
ENTRYPOINT ["chronik"]
CMD ["start"]
