/**
 * One client connection to a Kafka broker: size-prefixed frames, correlation ids, and pipelined requests.
 * Kafka answers requests on a connection in the order they were sent, so pending requests are a FIFO and a
 * response must match the head's correlation id. Requests past the in-flight bound wait in a bounded queue;
 * everything sent in one turn of the event loop goes out in one socket write.
 */
import type { Socket } from "bun";
import { FrameDecoder, FrameTooLargeError } from "../net/frame-decoder.ts";
import { ErrorCode, errorName } from "../protocol/error-codes.ts";
import { API_SCHEMAS, ApiKey, readResponseHeader, writeRequestHeader, type ApiSchema } from "../protocol/generated/index.ts";
import { Reader } from "../protocol/reader.ts";
import { Writer } from "../protocol/writer.ts";

export interface ConnectionOptions {
  host: string;
  port: number;
  clientId?: string;
  /** Requests sent and not yet answered; more wait in the send queue. */
  maxInFlightRequests?: number;
  /** Requests waiting for an in-flight slot; past this, request() rejects. */
  maxQueuedRequests?: number;
  requestTimeoutMs?: number;
  maxFrameBytes?: number;
  connectTimeoutMs?: number;
}

/** A Kafka error code returned by the broker, with its name. */
export class KafkaError extends Error {
  override name = "KafkaError";
  constructor(
    readonly errorCode: number,
    context: string,
  ) {
    super(`${context}: ${errorName(errorCode)} (${errorCode})`);
  }
}

export class ConnectionClosedError extends Error {
  override name = "ConnectionClosedError";
}

export interface VersionRange {
  minVersion: number;
  maxVersion: number;
}

interface Pending {
  correlationId: number;
  schema: ApiSchema;
  version: number;
  sentAtMs: number;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Queued {
  frame: Uint8Array[];
  pending: Pending | null;
}

const DEFAULT_MAX_IN_FLIGHT_REQUESTS = 64;
const DEFAULT_MAX_QUEUED_REQUESTS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_FRAME_BYTES = 128 * 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Chunks smaller than this are coalesced into one write buffer; larger ones are written as they are. */
const COALESCE_LIMIT_BYTES = 16 * 1024;
const COALESCE_BUFFER_BYTES = 256 * 1024;
const TIMEOUT_CHECK_INTERVAL_MS = 250;
const SIZE_PREFIX_BYTES = 4;

export class KafkaConnection {
  readonly clientId: string;
  private readonly maxInFlightRequests: number;
  private readonly maxQueuedRequests: number;
  private readonly requestTimeoutMs: number;
  private readonly decoder: FrameDecoder;
  /** Sent, awaiting a response, in send order. */
  private readonly inFlight: Pending[] = [];
  private inFlightHead = 0;
  /** Built, waiting for an in-flight slot. */
  private readonly waiting: Queued[] = [];
  private waitingHead = 0;
  /** Bytes accepted for sending that the socket has not taken yet. */
  private readonly outbound: Uint8Array[] = [];
  private flushScheduled = false;
  private nextCorrelationId = 1;
  private closedError: Error | null = null;
  private readonly timeoutTimer: ReturnType<typeof setInterval>;
  private socket!: Socket<undefined>;
  private versions: Map<number, VersionRange> | null = null;

  private constructor(options: ConnectionOptions) {
    this.clientId = options.clientId ?? "chronik-client";
    this.maxInFlightRequests = options.maxInFlightRequests ?? DEFAULT_MAX_IN_FLIGHT_REQUESTS;
    this.maxQueuedRequests = options.maxQueuedRequests ?? DEFAULT_MAX_QUEUED_REQUESTS;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.decoder = new FrameDecoder(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    if (!(this.maxInFlightRequests >= 1)) throw new RangeError(`maxInFlightRequests must be >= 1, got ${this.maxInFlightRequests}`);
    this.timeoutTimer = setInterval(() => this.checkTimeouts(), TIMEOUT_CHECK_INTERVAL_MS);
    this.timeoutTimer.unref();
  }

  static async connect(options: ConnectionOptions): Promise<KafkaConnection> {
    const connection = new KafkaConnection(options);
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connect to ${options.host}:${options.port} timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs);
    });
    try {
      connection.socket = await Promise.race([
        Bun.connect({
          hostname: options.host,
          port: options.port,
          socket: {
            data: (_socket, chunk) => connection.onData(chunk),
            drain: () => connection.flush(),
            close: () => connection.fail(new ConnectionClosedError(`connection to ${options.host}:${options.port} closed`)),
            end: () => connection.fail(new ConnectionClosedError(`broker ${options.host}:${options.port} ended the connection`)),
            error: (_socket, error) => connection.fail(error),
          },
        }),
        timeout,
      ]);
    } catch (error) {
      clearInterval(connection.timeoutTimer);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    // Small requests (one-record produces) must not wait for Nagle's delayed-ACK interplay.
    connection.socket.setNoDelay(true);
    return connection;
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Requests sent or queued and not yet answered. */
  get pendingRequests(): number {
    return this.inFlight.length - this.inFlightHead + this.waiting.length - this.waitingHead;
  }

  /** Asks for ApiVersions (v3, falling back to v0) and remembers the broker's ranges for pickVersion. */
  async negotiateVersions(): Promise<Map<number, VersionRange>> {
    type Response = { errorCode: number; apiKeys: { apiKey: number; minVersion: number; maxVersion: number }[] };
    let response = await this.request<Response>(ApiKey.ApiVersions, 3, { clientSoftwareName: "chronik-client", clientSoftwareVersion: "0.1.0" });
    if (response.errorCode === ErrorCode.UNSUPPORTED_VERSION) response = await this.request<Response>(ApiKey.ApiVersions, 0, {});
    if (response.errorCode !== 0) throw new KafkaError(response.errorCode, "ApiVersions");
    this.versions = new Map(response.apiKeys.map((k) => [k.apiKey, { minVersion: k.minVersion, maxVersion: k.maxVersion }]));
    return this.versions;
  }

  /** The highest version both sides speak, capped at clientMaxVersion; throws when the ranges do not meet. */
  pickVersion(apiKey: number, clientMaxVersion?: number): number {
    const schema = schemaOf(apiKey);
    if (this.versions === null) throw new Error("pickVersion before negotiateVersions");
    const broker = this.versions.get(apiKey);
    const clientMax = Math.min(clientMaxVersion ?? schema.maxVersion, schema.maxVersion);
    if (broker === undefined) throw new Error(`broker does not support ${schema.name}`);
    const version = Math.min(clientMax, broker.maxVersion);
    if (version < Math.max(broker.minVersion, schema.minVersion)) {
      throw new Error(`no common version of ${schema.name}: broker ${broker.minVersion}-${broker.maxVersion}, client up to ${clientMax}`);
    }
    return version;
  }

  /** Sends a request and resolves with the decoded response body. */
  request<T = unknown>(apiKey: number, version: number, body: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const schema = schemaOf(apiKey);
      const pending: Pending = { correlationId: 0, schema, version, sentAtMs: 0, resolve: resolve as (value: unknown) => void, reject };
      this.enqueue(schema, version, body, pending);
    });
  }

  /** Sends a request that gets no response (Produce with acks=0); it is queued for the socket on return. */
  send(apiKey: number, version: number, body: unknown): void {
    this.enqueue(schemaOf(apiKey), version, body, null);
  }

  close(): void {
    if (this.closedError === null) this.fail(new ConnectionClosedError("connection closed by the client"));
  }

  private enqueue(schema: ApiSchema, version: number, body: unknown, pending: Pending | null): void {
    if (this.closedError !== null) throw this.closedError;
    if (this.waiting.length - this.waitingHead >= this.maxQueuedRequests) {
      throw new Error(`more than ${this.maxQueuedRequests} requests queued on the connection`);
    }
    const correlationId = this.nextCorrelationId;
    this.nextCorrelationId = (this.nextCorrelationId + 1) & 0x7fffffff;
    if (pending !== null) pending.correlationId = correlationId;
    const writer = new Writer();
    writer.writeInt32(0);
    writeRequestHeader(writer, schema.requestHeaderVersion(version), {
      requestApiKey: schema.apiKey,
      requestApiVersion: version,
      correlationId,
      clientId: this.clientId,
    });
    schema.writeRequest(writer, version, body);
    const { chunks, byteLength } = writer.finish();
    // The first chunk starts with the placeholder written above: patch in the frame size, no copy.
    const first = chunks[0]!;
    new DataView(first.buffer, first.byteOffset, SIZE_PREFIX_BYTES).setInt32(0, byteLength - SIZE_PREFIX_BYTES);
    const queued: Queued = { frame: chunks, pending };
    if (pending !== null && this.inFlight.length - this.inFlightHead >= this.maxInFlightRequests) this.waiting.push(queued);
    else this.transmit(queued);
  }

  private transmit(queued: Queued): void {
    if (queued.pending !== null) {
      queued.pending.sentAtMs = performance.now();
      this.inFlight.push(queued.pending);
    }
    for (const chunk of queued.frame) this.outbound.push(chunk);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  /** Writes queued bytes until the socket takes less than offered; drain calls back for the rest. */
  private flush(): void {
    if (this.closedError !== null) return;
    const out = this.outbound;
    let index = 0;
    while (index < out.length) {
      let piece = out[index]!;
      let stop = index;
      let totalBytes = 0;
      while (stop < out.length && out[stop]!.byteLength < COALESCE_LIMIT_BYTES && totalBytes + out[stop]!.byteLength <= COALESCE_BUFFER_BYTES) {
        totalBytes += out[stop]!.byteLength;
        stop++;
      }
      // Small frames go out in one write: one syscall for a turn's worth of pipelined requests.
      if (stop - index >= 2) {
        piece = new Uint8Array(totalBytes);
        let at = 0;
        for (let i = index; i < stop; i++) {
          piece.set(out[i]!, at);
          at += out[i]!.byteLength;
        }
      } else {
        stop = index + 1;
      }
      const pieces = stop - index;
      const written = this.socket.write(piece);
      if (written < piece.byteLength) {
        out.splice(0, index + pieces, piece.subarray(Math.max(written, 0)));
        return;
      }
      index += pieces;
    }
    out.length = 0;
  }

  private onData(chunk: Uint8Array): void {
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      this.fail(error);
      this.socket.end();
      return;
    }
    for (const frame of frames) this.onFrame(frame);
    this.promoteWaiting();
  }

  private onFrame(frame: Uint8Array): void {
    const pending = this.inFlight[this.inFlightHead];
    if (pending === undefined) {
      this.fail(new Error("response without a pending request"));
      return;
    }
    const reader = new Reader(frame);
    let body: unknown;
    try {
      const header = readResponseHeader(reader, pending.schema.responseHeaderVersion(pending.version));
      if (header.correlationId !== pending.correlationId) {
        this.fail(new Error(`response correlation id ${header.correlationId}, expected ${pending.correlationId}`));
        return;
      }
      body = pending.schema.readResponse(reader, pending.version);
    } catch (error) {
      this.popInFlight();
      pending.reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.popInFlight();
    pending.resolve(body);
  }

  private popInFlight(): void {
    this.inFlight[this.inFlightHead++] = undefined as never;
    if (this.inFlightHead === this.inFlight.length) {
      this.inFlight.length = 0;
      this.inFlightHead = 0;
    } else if (this.inFlightHead > 1024 && this.inFlightHead * 2 > this.inFlight.length) {
      this.inFlight.splice(0, this.inFlightHead);
      this.inFlightHead = 0;
    }
  }

  private promoteWaiting(): void {
    while (this.waitingHead < this.waiting.length && this.inFlight.length - this.inFlightHead < this.maxInFlightRequests) {
      const queued = this.waiting[this.waitingHead]!;
      this.waiting[this.waitingHead++] = undefined as never;
      this.transmit(queued);
    }
    if (this.waitingHead === this.waiting.length) {
      this.waiting.length = 0;
      this.waitingHead = 0;
    }
  }

  private checkTimeouts(): void {
    const head = this.inFlight[this.inFlightHead];
    if (head !== undefined && performance.now() - head.sentAtMs > this.requestTimeoutMs) {
      this.fail(new Error(`${head.schema.name} request ${head.correlationId} timed out after ${this.requestTimeoutMs} ms`));
      this.socket.end();
    }
  }

  private fail(error: Error): void {
    if (this.closedError !== null) return;
    this.closedError = error;
    clearInterval(this.timeoutTimer);
    for (let i = this.inFlightHead; i < this.inFlight.length; i++) this.inFlight[i]!.reject(error);
    for (let i = this.waitingHead; i < this.waiting.length; i++) this.waiting[i]!.pending?.reject(error);
    this.inFlight.length = 0;
    this.waiting.length = 0;
    this.outbound.length = 0;
    this.socket?.end();
  }
}

function schemaOf(apiKey: number): ApiSchema {
  const schema = API_SCHEMAS.get(apiKey);
  if (schema === undefined) throw new Error(`unknown API key ${apiKey}`);
  return schema;
}

/** Parses "host:port" (the first of a comma-separated list). */
export function parseBootstrap(bootstrap: string): { host: string; port: number } {
  const first = bootstrap.split(",")[0]!.trim();
  const colon = first.lastIndexOf(":");
  const port = Number(first.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad bootstrap address ${JSON.stringify(bootstrap)}`);
  return { host: first.slice(0, colon), port };
}
