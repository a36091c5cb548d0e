import type { Server } from "bun";
import type { Broker } from "../broker.ts";
import { logger } from "../lib/logger.ts";
import { AdminApi } from "./admin-api.ts";
import { HttpError } from "./http-error.ts";
import { ThroughputSampler } from "./throughput.ts";
import appJs from "./console/app.js" with { type: "file" };
import chartsJs from "./console/charts.js" with { type: "file" };
import indexHtml from "./console/index.html" with { type: "file" };
import styleCss from "./console/style.css" with { type: "file" };
import viewsJs from "./console/views.js" with { type: "file" };

const log = logger("http");

/** Largest request body the HTTP side reads (topic creation is the only one with a body). */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

/**
 * The console's files by URL path: a fixed table, so no request path ever reaches the file system.
 * Imported as files so that `bun build --compile` embeds them in the executable.
 */
const CONSOLE_FILES = new Map<string, { file: string; contentType: string }>([
  ["/", { file: indexHtml, contentType: "text/html; charset=utf-8" }],
  ["/index.html", { file: indexHtml, contentType: "text/html; charset=utf-8" }],
  ["/console/app.js", { file: appJs, contentType: "text/javascript; charset=utf-8" }],
  ["/console/charts.js", { file: chartsJs, contentType: "text/javascript; charset=utf-8" }],
  ["/console/views.js", { file: viewsJs, contentType: "text/javascript; charset=utf-8" }],
  ["/console/style.css", { file: styleCss, contentType: "text/css; charset=utf-8" }],
]);

/** The HTTP side: health, readiness, Prometheus metrics, the JSON admin API and the web console. */
export class HttpServer {
  private server: Server | null = null;
  private readonly throughput: ThroughputSampler;
  private readonly api: AdminApi;

  constructor(
    private readonly broker: Broker,
    private readonly host: string,
    private readonly requestedPort: number,
  ) {
    this.throughput = new ThroughputSampler(broker.replicas, broker.metrics);
    this.api = new AdminApi(broker, this.throughput, MAX_REQUEST_BODY_BYTES);
  }

  get port(): number {
    if (!this.server) throw new Error("http server not listening");
    return this.server.port!;
  }

  listen(): void {
    this.throughput.baseline();
    this.server = Bun.serve({
      hostname: this.host,
      port: this.requestedPort,
      maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
      fetch: (request) => this.answer(request),
      error(error) {
        log.error("http handler failed", { error });
        return Response.json({ error: "INTERNAL_ERROR", message: "unexpected error; see the broker log" }, { status: 500 });
      },
    });
  }

  private async answer(request: Request): Promise<Response> {
    const url = new URL(request.url);
    try {
      return await this.route(request, url);
    } catch (error) {
      if (error instanceof HttpError) {
        return error.toResponse(error.status === 405 ? { allow: allowedMethods(url.pathname) } : undefined);
      }
      log.error("http request failed", { method: request.method, path: url.pathname, error });
      return Response.json({ error: "INTERNAL_ERROR", message: "unexpected error; see the broker log" }, { status: 500 });
    }
  }

  private route(request: Request, url: URL): Promise<Response> | Response {
    if (url.pathname.startsWith("/api/")) return this.api.handle(request, url);
    if (request.method !== "GET" && request.method !== "HEAD") {
      throw new HttpError(405, "METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${url.pathname}`);
    }
    switch (url.pathname) {
      case "/health":
        return Response.json({ status: "up" });
      case "/ready":
        return this.broker.isReady
          ? Response.json({ status: "ready" })
          : Response.json({ status: "not ready" }, { status: 503 });
      case "/metrics":
        this.throughput.sample();
        return new Response(this.broker.metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4" } });
    }
    const asset = CONSOLE_FILES.get(url.pathname);
    if (asset) {
      return new Response(Bun.file(asset.file), {
        headers: { "content-type": asset.contentType, "cache-control": "no-cache" },
      });
    }
    throw new HttpError(404, "NOT_FOUND", `no such path ${url.pathname}`);
  }

  stop(): void {
    this.server?.stop(true);
    this.server = null;
  }
}

/** The Allow header for a 405: what each kind of path accepts. */
function allowedMethods(pathname: string): string {
  if (/^\/api\/topics\/?$/.test(pathname)) return "GET, HEAD, POST";
  if (/^\/api\/topics\/[^/]+\/?$/.test(pathname)) return "GET, HEAD, DELETE";
  return "GET, HEAD";
}
