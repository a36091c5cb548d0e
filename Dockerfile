# One image: the broker and its dependencies, data in /data.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY bunfig.toml ./
COPY src ./src
COPY native ./native
ENV CHRONIK_DATA_DIR=/data \
    CHRONIK_HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 9092 8092
STOPSIGNAL SIGTERM
ENTRYPOINT ["node_modules/.bin/bun", "src/main.ts"]
CMD ["start"]
