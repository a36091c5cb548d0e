import { logger } from "../lib/logger.ts";
import type { Broker } from "../broker.ts";
import { CloseConnection, type ConnectionInfo } from "../net/kafka-server.ts";
import type { Outgoing } from "../net/response-queue.ts";
import { ErrorCode, KafkaCodedError } from "../protocol/error-codes.ts";
import { API_SCHEMAS, ApiKey, readRequestHeader, writeResponseHeader, type ApiSchema } from "../protocol/generated/index.ts";
import { ProtocolError, Reader } from "../protocol/reader.ts";
import { Writer } from "../protocol/writer.ts";
import { NO_RESPONSE, type ApiHandler, type RequestContext } from "./handler.ts";
import type { RequestMetrics } from "../metrics/request-metrics.ts";

const log = logger("api");

class HandlerContext implements RequestContext {
  private releases: (() => void)[] | null = null;
  readonly connectionId: number;
  readonly clientHost: string;

  constructor(
    readonly broker: Broker,
    readonly apiKey: number,
    readonly apiVersion: number,
    readonly correlationId: number,
    readonly clientId: string | null,
    connection: ConnectionInfo,
  ) {
    this.connectionId = connection.id;
    this.clientHost = connection.remoteAddress;
  }

  releaseAfterWrite(release: () => void): void {
    (this.releases ??= []).push(release);
  }

  /** One callback that runs every registered release, or undefined when there are none. */
  takeReleases(): (() => void) | undefined {
    const releases = this.releases;
    this.releases = null;
    if (!releases) return undefined;
    return () => {
      for (const release of releases) release();
    };
  }
}

/** Decodes request frames, dispatches them to the handler for their API and encodes the answers. */
export class Router {
  private readonly handlers = new Map<number, ApiHandler>();

  constructor(
    handlers: readonly ApiHandler[],
    private readonly broker: Broker,
    private readonly metrics: RequestMetrics,
  ) {
    for (const handler of handlers) {
      const schema = API_SCHEMAS.get(handler.apiKey);
      if (!schema) throw new Error(`handler for unknown api key ${handler.apiKey}`);
      if (handler.minVersion < schema.minVersion || handler.maxVersion > schema.maxVersion) {
        throw new Error(`handler for ${schema.name} claims versions outside the schema's ${schema.minVersion}-${schema.maxVersion}`);
      }
      if (this.handlers.has(handler.apiKey)) throw new Error(`two handlers for ${schema.name}`);
      this.handlers.set(handler.apiKey, handler);
    }
  }

  /** The API versions this broker implements, for ApiVersions. */
  supportedApis(): { apiKey: number; minVersion: number; maxVersion: number }[] {
    return [...this.handlers.values()]
      .map((h) => ({ apiKey: h.apiKey, minVersion: h.minVersion, maxVersion: h.maxVersion }))
      .sort((a, b) => a.apiKey - b.apiKey);
  }

  readonly handleFrame = (frame: Uint8Array, connection: ConnectionInfo, ticket: number): Outgoing | Promise<Outgoing> => {
    if (frame.byteLength < 8) throw new CloseConnection(`request of ${frame.byteLength} bytes is shorter than a header`);
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const apiKey = view.getInt16(0);
    const apiVersion = view.getInt16(2);
    const correlationId = view.getInt32(4);
    const schema = API_SCHEMAS.get(apiKey);
    const handler = this.handlers.get(apiKey);
    if (!schema || !handler) throw new CloseConnection(`unsupported api key ${apiKey}`);
    if (apiVersion < handler.minVersion || apiVersion > handler.maxVersion) {
      if (apiKey === ApiKey.ApiVersions) return this.unsupportedApiVersions(correlationId);
      throw new CloseConnection(`unsupported version ${apiVersion} of ${schema.name}`);
    }

    const reader = new Reader(frame);
    let request: unknown;
    let clientId: string | null;
    try {
      const header = readRequestHeader(reader, schema.requestHeaderVersion(apiVersion));
      clientId = header.clientId;
      request = schema.readRequest(reader, apiVersion);
    } catch (error) {
      if (error instanceof ProtocolError) {
        throw new CloseConnection(`malformed ${schema.name} v${apiVersion} request: ${error.message}`);
      }
      throw error;
    }

    const ctx = new HandlerContext(this.broker, apiKey, apiVersion, correlationId, clientId, connection);
    const earlier = handler.waitsForEarlierRequests ? connection.answeredBefore(ticket) : null;
    if (earlier !== null) return earlier.then(() => this.run(schema, handler, ctx, request, frame.byteLength));
    return this.run(schema, handler, ctx, request, frame.byteLength);
  };

  private run(schema: ApiSchema, handler: ApiHandler, ctx: HandlerContext, request: unknown, requestBytes: number): Outgoing | Promise<Outgoing> {
    const startedNs = Bun.nanoseconds();
    const counted = (outgoing: Outgoing): Outgoing => {
      let responseBytes = 0;
      if (outgoing) for (const chunk of outgoing.chunks) responseBytes += chunk.byteLength;
      this.metrics.bytes(ctx.apiKey, requestBytes, responseBytes);
      return outgoing;
    };
    let result: ReturnType<ApiHandler["handle"]>;
    try {
      result = handler.handle(request, ctx);
    } catch (error) {
      return counted(this.failed(schema, handler, ctx, request, error, startedNs));
    }
    if (result instanceof Promise) {
      return result.then(
        (response) => counted(this.encode(schema, ctx, response, startedNs)),
        (error) => counted(this.failed(schema, handler, ctx, request, error, startedNs)),
      );
    }
    return counted(this.encode(schema, ctx, result, startedNs));
  }

  private encode(schema: ApiSchema, ctx: HandlerContext, response: unknown, startedNs: number): Outgoing {
    this.metrics.observe(ctx.apiKey, (Bun.nanoseconds() - startedNs) / 1e6, false);
    if (response === NO_RESPONSE) {
      ctx.takeReleases()?.();
      return null;
    }
    const writer = new Writer();
    writeResponseHeader(writer, schema.responseHeaderVersion(ctx.apiVersion), { correlationId: ctx.correlationId });
    schema.writeResponse(writer, ctx.apiVersion, response as never);
    return { chunks: writer.finish().chunks, onWritten: ctx.takeReleases() };
  }

  /**
   * An exception is logged with the request header and answered with its Kafka error code, UNKNOWN_SERVER_ERROR
   * when it has none.
   */
  private failed(
    schema: ApiSchema,
    handler: ApiHandler,
    ctx: HandlerContext,
    request: unknown,
    error: unknown,
    startedNs: number,
  ): Outgoing {
    const errorCode = error instanceof KafkaCodedError ? error.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR;
    const fields = { api: schema.name, version: ctx.apiVersion, correlationId: ctx.correlationId, clientId: ctx.clientId, error };
    // Coded errors are the usual answers (NOT_COORDINATOR to a client that found the coordinator moved): the
    // services log the failures behind them that need attention.
    if (error instanceof KafkaCodedError) log.debug("request answered with an error", { ...fields, errorCode });
    else log.error("handler failed", fields);
    this.metrics.observe(ctx.apiKey, (Bun.nanoseconds() - startedNs) / 1e6, true);
    const response = handler.errorResponse ? handler.errorResponse(request, errorCode, ctx) : { errorCode };
    const writer = new Writer();
    writeResponseHeader(writer, schema.responseHeaderVersion(ctx.apiVersion), { correlationId: ctx.correlationId });
    schema.writeResponse(writer, ctx.apiVersion, response as never);
    ctx.takeReleases()?.();
    return { chunks: writer.finish().chunks };
  }

  /** Kafka answers an ApiVersions request it cannot parse with a v0 body, so the client can retry with a version we know. */
  private unsupportedApiVersions(correlationId: number): Outgoing {
    const schema = API_SCHEMAS.get(ApiKey.ApiVersions)!;
    const writer = new Writer();
    writeResponseHeader(writer, 0, { correlationId });
    schema.writeResponse(writer, 0, { errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: this.supportedApis() } as never);
    return { chunks: writer.finish().chunks };
  }
}
