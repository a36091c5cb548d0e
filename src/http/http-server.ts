import type { Server } from "bun";
import type { Broker } from "../broker.ts";
import { logger } from "../lib/logger.ts";

const log = logger("http");

/** The HTTP side: health, readiness and Prometheus metrics. */
export class HttpServer {
  private server: Server | null = null;

  constructor(
    private readonly broker: Broker,
    private readonly host: string,
    private readonly requestedPort: number,
  ) {}

  get port(): number {
    if (!this.server) throw new Error("http server not listening");
    return this.server.port!;
  }

  listen(): void {
    this.server = Bun.serve({
      hostname: this.host,
      port: this.requestedPort,
      fetch: (request) => this.route(request),
      error(error) {
        log.error("http handler failed", { error });
        return Response.json({ error: "internal error" }, { status: 500 });
      },
    });
  }

  private route(request: Request): Response {
    const url = new URL(request.url);
    if (request.method !== "GET") return Response.json({ error: `method ${request.method} not allowed` }, { status: 405 });
    switch (url.pathname) {
      case "/health":
        return Response.json({ status: "up" });
      case "/ready":
        return this.broker.isReady
          ? Response.json({ status: "ready" })
          : Response.json({ status: "not ready" }, { status: 503 });
      case "/metrics":
        return new Response(this.broker.metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4" } });
      default:
        return Response.json({ error: `no such path ${url.pathname}` }, { status: 404 });
    }
  }

  stop(): void {
    this.server?.stop(true);
    this.server = null;
  }
}
