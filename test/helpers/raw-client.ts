import type { Socket } from "bun";
import { FrameDecoder } from "../../src/net/frame-decoder.ts";
import { API_SCHEMAS, readResponseHeader, writeRequestHeader } from "../../src/protocol/generated/index.ts";
import { Reader } from "../../src/protocol/reader.ts";
import { Writer } from "../../src/protocol/writer.ts";
import { waitFor } from "./wait.ts";

/** A bare Kafka connection for tests: sends raw bytes or encoded requests, collects response frames. */
export class RawClient {
  private readonly frames: Uint8Array[] = [];
  /** Bytes the socket has not taken yet; socket.write may take only part of a buffer. */
  private readonly unsent: Uint8Array[] = [];
  private readonly decoder = new FrameDecoder(1 << 30);
  private nextCorrelationId = 1;
  closed = false;

  private constructor(private readonly socket: Socket<undefined>) {}

  static async connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    let client!: RawClient;
    const socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_s, chunk) => client.frames.push(...client.decoder.push(chunk)),
        drain: () => client.flush(),
        close: () => {
          client.closed = true;
        },
        end: () => {
          client.closed = true;
        },
        error: () => {
          client.closed = true;
        },
      },
    });
    client = new RawClient(socket);
    return client;
  }

  writeRaw(bytes: Uint8Array): void {
    this.unsent.push(bytes);
    this.flush();
  }

  private flush(): void {
    while (this.unsent.length > 0) {
      const head = this.unsent[0]!;
      const written = this.socket.write(head);
      if (written < 0) return;
      if (written < head.byteLength) {
        this.unsent[0] = head.subarray(written);
        return;
      }
      this.unsent.shift();
    }
  }

  /** Encodes a request with the right header version and sends it; returns its correlation id. */
  send(apiKey: number, version: number, body: unknown, clientId: string | null = "raw-test"): number {
    const schema = API_SCHEMAS.get(apiKey)!;
    const correlationId = this.nextCorrelationId++;
    const writer = new Writer();
    writeRequestHeader(writer, schema.requestHeaderVersion(version), {
      requestApiKey: apiKey,
      requestApiVersion: version,
      correlationId,
      clientId,
    });
    schema.writeRequest(writer, version, body as never);
    const bytes = writer.toBytes();
    const frame = new Uint8Array(4 + bytes.length);
    new DataView(frame.buffer).setInt32(0, bytes.length);
    frame.set(bytes, 4);
    this.writeRaw(frame);
    return correlationId;
  }

  async nextFrame(timeoutMs = 10_000): Promise<Uint8Array> {
    await waitFor(() => this.frames.length > 0, "a response frame", timeoutMs, 5);
    return this.frames.shift()!;
  }

  /** Waits for the next response and decodes it as the given API and version. */
  async receive<T = any>(apiKey: number, version: number): Promise<{ correlationId: number; body: T }> {
    const frame = await this.nextFrame();
    const schema = API_SCHEMAS.get(apiKey)!;
    const reader = new Reader(frame);
    const header = readResponseHeader(reader, schema.responseHeaderVersion(version));
    return { correlationId: header.correlationId, body: schema.readResponse(reader, version) as T };
  }

  async request<T = any>(apiKey: number, version: number, body: unknown): Promise<T> {
    const correlationId = this.send(apiKey, version, body);
    const response = await this.receive<T>(apiKey, version);
    if (response.correlationId !== correlationId) throw new Error(`correlation id ${response.correlationId}, expected ${correlationId}`);
    return response.body;
  }

  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.closed, "the broker to close the connection", timeoutMs, 5);
  }

  close(): void {
    this.socket.end();
  }
}
