import { API_SCHEMAS } from "../protocol/generated/index.ts";
import { Counter, Histogram, type MetricsRegistry } from "./registry.ts";

const LATENCY_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];

interface ApiSeries {
  request(): void;
  error(): void;
  latencyMs(value: number): void;
  requestBytes(bytes: number): void;
  responseBytes(bytes: number): void;
}

/** Requests, errors and latency per Kafka API. */
export class RequestMetrics {
  private readonly requests: Counter;
  private readonly errors: Counter;
  private readonly latency: Histogram;
  private readonly requestBytes: Counter;
  private readonly responseBytes: Counter;
  /** Per API key: building label text on every request cost more than the rest of the bookkeeping. */
  private readonly byApi = new Map<number, ApiSeries>();

  constructor(registry: MetricsRegistry) {
    this.requests = registry.register(new Counter("chronik_requests_total", "Kafka requests handled, by API."));
    this.errors = registry.register(new Counter("chronik_request_errors_total", "Kafka requests whose handler failed, by API."));
    this.latency = registry.register(
      new Histogram("chronik_request_latency_ms", "Time from decoded request to encoded response, by API.", LATENCY_BUCKETS_MS),
    );
    this.requestBytes = registry.register(new Counter("chronik_request_bytes_total", "Request bytes received, by API (Produce: bytes in)."));
    this.responseBytes = registry.register(new Counter("chronik_response_bytes_total", "Response bytes sent, by API (Fetch: bytes out)."));
  }

  bytes(apiKey: number, requestBytes: number, responseBytes: number): void {
    const series = this.seriesOf(apiKey);
    series.requestBytes(requestBytes);
    series.responseBytes(responseBytes);
  }

  observe(apiKey: number, latencyMs: number, failed: boolean): void {
    const series = this.seriesOf(apiKey);
    series.request();
    if (failed) series.error();
    series.latencyMs(latencyMs);
  }

  private seriesOf(apiKey: number): ApiSeries {
    let series = this.byApi.get(apiKey);
    if (series === undefined) {
      const labels = { api: API_SCHEMAS.get(apiKey)?.name ?? String(apiKey) };
      series = {
        request: this.requests.labelled(labels),
        error: this.errors.labelled(labels),
        latencyMs: this.latency.labelled(labels),
        requestBytes: this.requestBytes.labelled(labels),
        responseBytes: this.responseBytes.labelled(labels),
      };
      this.byApi.set(apiKey, series);
    }
    return series;
  }
}
