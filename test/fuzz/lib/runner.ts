import type { Socket } from "bun";
import { readFileSync } from "node:fs";
import { FrameDecoder } from "../../../src/net/frame-decoder.ts";
import { ErrorCode } from "../../../src/protocol/error-codes.ts";
import { API_SCHEMAS, ApiKey, readResponseHeader } from "../../../src/protocol/generated/index.ts";
import { Reader } from "../../../src/protocol/reader.ts";
import { encodeRequest, framed, generateCase, type Advertised, type FuzzCase } from "./cases.ts";
import { VERIFY_PARTITIONS, VERIFY_TOPIC } from "./corrupt-batches.ts";
import { checkStoredBatches } from "./stored-batches.ts";
import { FUZZ_TOPICS } from "./values.ts";

export interface FuzzOptions {
  host: string;
  port: number;
  seed: number;
  cases: number;
  /** The first case index to run; with cases=1, replays one case. */
  firstCase?: number;
  /** Parallel connections. */
  lanes?: number;
  /** Well-formed requests in flight per connection. */
  pipelineDepth?: number;
  /** A case with neither a response nor a close within this long (after the one before it finished) is a hang. */
  caseDeadlineMs?: number;
  /** The broker's pid, for RSS sampling and the liveness check. */
  pid?: number;
  /** The broker's HTTP port, for /health. */
  httpPort?: number;
  maxFrameBytes?: number;
  /** Stop after this many failures. */
  maxFailures?: number;
  onProgress?(done: number, report: FuzzReport): void;
}

export interface Failure {
  seed: number;
  caseIndex: number;
  kind: string;
  reason: string;
  hex: string;
}

export interface FuzzReport {
  cases: number;
  responses: number;
  closes: number;
  longWaits: number;
  batchesRejected: number;
  batchesAccepted: number;
  failures: Failure[];
  startRssKiB: number;
  peakRssKiB: number;
  endRssKiB: number;
  elapsedMs: number;
}

// A lying batchLength may also claim more than max.message.bytes: MESSAGE_TOO_LARGE rejects it just as well.
const CORRUPT_BATCH_ERRORS = new Set<number>([ErrorCode.CORRUPT_MESSAGE, ErrorCode.INVALID_RECORD, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, ErrorCode.MESSAGE_TOO_LARGE]);
const MAX_HEX_BYTES = 4096;

export function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) : 0;
}

function hex(bytes: Uint8Array): string {
  const shown = Buffer.from(bytes.subarray(0, MAX_HEX_BYTES)).toString("hex");
  return bytes.length > MAX_HEX_BYTES ? `${shown}… (${bytes.length} bytes)` : shown;
}

type Outcome = { type: "response"; frame: Uint8Array } | { type: "closed" } | { type: "timeout" };

/** One connection: sends frames, matches response frames to cases in order, reports a close to every waiter. */
class Connection {
  private readonly waiters: ((outcome: Outcome) => void)[] = [];
  private readonly decoder = new FrameDecoder(1 << 30);
  private readonly unsent: Uint8Array[] = [];
  closed = false;
  lastProgressMs = performance.now();

  private constructor(private socket: Socket<undefined> | null) {}

  static async open(host: string, port: number): Promise<Connection> {
    const connection = new Connection(null);
    connection.socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_s, chunk) => connection.onData(chunk),
        drain: () => connection.flush(),
        close: () => connection.onClose(),
        end: () => connection.onClose(),
        error: () => connection.onClose(),
      },
    });
    return connection;
  }

  get inFlight(): number {
    return this.waiters.length;
  }

  private onData(chunk: Uint8Array): void {
    this.lastProgressMs = performance.now();
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch {
      this.onClose();
      return;
    }
    for (const frame of frames) this.waiters.shift()?.({ type: "response", frame: frame.slice() });
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.lastProgressMs = performance.now();
    for (const waiter of this.waiters.splice(0)) waiter({ type: "closed" });
  }

  send(frame: Uint8Array): Promise<Outcome> {
    if (this.closed) return Promise.resolve({ type: "closed" });
    const outcome = new Promise<Outcome>((resolve) => this.waiters.push(resolve));
    this.unsent.push(frame);
    this.flush();
    return outcome;
  }

  /** Bun's write may take only part of a buffer; the rest waits here for the drain callback. */
  flush(): void {
    while (this.unsent.length > 0 && !this.closed) {
      const head = this.unsent[0]!;
      const written = this.socket!.write(head);
      if (written < 0) return this.onClose();
      if (written < head.length) {
        this.unsent[0] = head.subarray(written);
        return;
      }
      this.unsent.shift();
    }
  }

  /** Fails the oldest waiter when nothing has happened for deadlineMs. */
  expire(deadlineMs: number): void {
    if (this.waiters.length > 0 && performance.now() - this.lastProgressMs > deadlineMs) {
      this.waiters.shift()!({ type: "timeout" });
      this.lastProgressMs = performance.now();
    }
  }

  close(): void {
    this.socket?.end();
    this.onClose();
  }
}

function decodeResponse(c: FuzzCase, frame: Uint8Array, advertised: Advertised): string | null {
  const schema = API_SCHEMAS.get(c.apiKey);
  if (!schema) return `a response to unknown api key ${c.apiKey}`;
  const range = advertised.get(c.apiKey);
  // An unsupported ApiVersions version is answered in v0, so any client can read the error.
  const version = c.apiKey === ApiKey.ApiVersions && range && (c.apiVersion < range[0] || c.apiVersion > range[1]) ? 0 : c.apiVersion;
  try {
    const reader = new Reader(frame);
    const header = readResponseHeader(reader, schema.responseHeaderVersion(version));
    if (header.correlationId !== c.correlationId) return `correlation id ${header.correlationId}, expected ${c.correlationId}`;
    schema.readResponse(reader, version);
    if (reader.remaining() !== 0) return `${reader.remaining()} bytes left after the ${schema.name} v${version} response`;
    return null;
  } catch (error) {
    return `undecodable ${schema.name} v${version} response: ${(error as Error).message}`;
  }
}

function produceErrorCode(frame: Uint8Array, c: FuzzCase): number {
  const schema = API_SCHEMAS.get(ApiKey.Produce)!;
  const reader = new Reader(frame);
  readResponseHeader(reader, schema.responseHeaderVersion(c.apiVersion));
  const response = schema.readResponse(reader, c.apiVersion) as { responses: { name: string; partitionResponses: { index: number; errorCode: number }[] }[] };
  return response.responses[0]?.partitionResponses[0]?.errorCode ?? -1;
}

/** The verify partition's log start offset, from ListOffsets (a Fetch out of range does not carry it, as in Kafka). */
async function earliestOffset(connection: Connection, partition: number): Promise<number> {
  const body = { replicaId: -1, topics: [{ name: VERIFY_TOPIC, partitions: [{ partitionIndex: partition, timestamp: -2 }] }] };
  const outcome = await connection.send(framed(encodeRequest(ApiKey.ListOffsets, 1, 1, body)));
  if (outcome.type !== "response") throw new Error(`ListOffsets of ${VERIFY_TOPIC}-${partition} got ${outcome.type}`);
  const reader = new Reader(outcome.frame);
  readResponseHeader(reader, 0);
  const response = API_SCHEMAS.get(ApiKey.ListOffsets)!.readResponse(reader, 1) as { topics: { partitions: { errorCode: number; offset: bigint | number }[] }[] };
  const answer = response.topics[0]!.partitions[0]!;
  if (answer.errorCode !== ErrorCode.NONE) throw new Error(`ListOffsets of ${VERIFY_TOPIC}-${partition}: error ${answer.errorCode}`);
  return Number(answer.offset);
}

/**
 * Fetches a whole partition of the verify topic, from its log start offset to its high watermark. The start is
 * past 0 when a fuzzed DeleteRecords or retention config reached the topic: `trimmed` says so.
 */
async function fetchPartition(host: string, port: number, partition: number): Promise<{ chunks: Uint8Array[]; trimmed: boolean }> {
  const connection = await Connection.open(host, port);
  const chunks: Uint8Array[] = [];
  let trimmed = false;
  try {
    let offset = 0;
    for (;;) {
      const body = {
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 0,
        maxBytes: 64 << 20,
        isolationLevel: 0,
        topics: [{ topic: VERIFY_TOPIC, partitions: [{ partition, fetchOffset: offset, partitionMaxBytes: 16 << 20 }] }],
      };
      const outcome = await connection.send(framed(encodeRequest(ApiKey.Fetch, 11, 1, body)));
      if (outcome.type !== "response") throw new Error(`fetch of ${VERIFY_TOPIC}-${partition} got ${outcome.type}`);
      const reader = new Reader(outcome.frame);
      readResponseHeader(reader, 0);
      const response = API_SCHEMAS.get(ApiKey.Fetch)!.readResponse(reader, 11) as any;
      const p = response.responses[0].partitions[0];
      if (p.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE && !trimmed) {
        offset = await earliestOffset(connection, partition);
        trimmed = true;
        continue;
      }
      if (p.errorCode !== 0) throw new Error(`fetch of ${VERIFY_TOPIC}-${partition} at offset ${offset}: error ${p.errorCode}`);
      const records: Uint8Array | null = p.records;
      if (!records || records.length === 0 || offset >= Number(p.highWatermark)) break;
      chunks.push(records.slice());
      const dv = new DataView(records.buffer, records.byteOffset, records.byteLength);
      let pos = 0;
      let next = offset;
      while (pos + 61 <= records.length) {
        const size = dv.getInt32(pos + 8) + 12;
        if (pos + size > records.length) break;
        next = dv.getInt32(pos) * 0x1_0000_0000 + dv.getUint32(pos + 4) + dv.getInt32(pos + 23) + 1;
        pos += size;
      }
      if (next === offset) break;
      offset = next;
    }
  } finally {
    connection.close();
  }
  return { chunks, trimmed };
}

async function setUp(host: string, port: number): Promise<Advertised> {
  const connection = await Connection.open(host, port);
  try {
    const outcome = await connection.send(framed(encodeRequest(ApiKey.ApiVersions, 0, 1, {})));
    if (outcome.type !== "response") throw new Error(`ApiVersions got ${outcome.type}`);
    const reader = new Reader(outcome.frame);
    readResponseHeader(reader, 0);
    const versions = API_SCHEMAS.get(ApiKey.ApiVersions)!.readResponse(reader, 0) as { apiKeys: { apiKey: number; minVersion: number; maxVersion: number }[] };
    const advertised = new Map<number, readonly [number, number]>(versions.apiKeys.map((k) => [k.apiKey, [k.minVersion, k.maxVersion] as const]));
    const topics = [...FUZZ_TOPICS.map((name) => ({ name, numPartitions: 2 })), { name: VERIFY_TOPIC, numPartitions: VERIFY_PARTITIONS }];
    const created = await connection.send(
      framed(encodeRequest(ApiKey.CreateTopics, 4, 2, { topics: topics.map((t) => ({ ...t, replicationFactor: 1, assignments: [], configs: [] })), timeoutMs: 10_000 })),
    );
    if (created.type !== "response") throw new Error(`CreateTopics got ${created.type}`);
    return advertised;
  } finally {
    connection.close();
  }
}

/** Runs cases [0, cases) of the seed against a live broker and checks every answer; never throws for a broker fault. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const lanes = options.lanes ?? 6;
  const pipelineDepth = options.pipelineDepth ?? 32;
  const deadlineMs = options.caseDeadlineMs ?? 15_000;
  const maxFailures = options.maxFailures ?? 20;
  const startedMs = performance.now();
  const advertised = await setUp(options.host, options.port);
  const startRssKiB = options.pid ? rssKiB(options.pid) : 0;
  const report: FuzzReport = {
    cases: 0,
    responses: 0,
    closes: 0,
    longWaits: 0,
    batchesRejected: 0,
    batchesAccepted: 0,
    failures: [],
    startRssKiB,
    peakRssKiB: startRssKiB,
    endRssKiB: startRssKiB,
    elapsedMs: 0,
  };
  const acceptedCrcs = Array.from({ length: VERIFY_PARTITIONS }, () => new Set<number>());
  const acceptedBatches = new Array<number>(VERIFY_PARTITIONS).fill(0);
  const fail = (c: FuzzCase, reason: string) => {
    report.failures.push({ seed: options.seed, caseIndex: c.index, kind: c.kind, reason, hex: hex(c.frame) });
  };
  const connections = new Set<Connection>();
  let brokerDown: string | null = null;

  const monitor = setInterval(() => {
    for (const connection of connections) connection.expire(deadlineMs);
    if (options.pid) {
      try {
        const rss = rssKiB(options.pid);
        report.peakRssKiB = Math.max(report.peakRssKiB, rss);
      } catch {
        brokerDown = `broker process ${options.pid} is gone`;
      }
    }
  }, 100);

  const judge = (c: FuzzCase, outcome: Outcome) => {
    report.cases++;
    if (report.cases % 10_000 === 0) options.onProgress?.(report.cases, report);
    if (outcome.type === "timeout") {
      if (c.longWait) report.longWaits++;
      else fail(c, `neither a response nor a close within ${deadlineMs} ms`);
      return;
    }
    if (outcome.type === "closed") {
      report.closes++;
      if (c.expect === "response") fail(c, "the broker closed the connection on a well-formed request");
      return;
    }
    report.responses++;
    if (c.expect === "close") return fail(c, "answered a frame that must close the connection");
    const problem = decodeResponse(c, outcome.frame, advertised);
    if (problem) return fail(c, problem);
    if (c.batchCheck) {
      const errorCode = produceErrorCode(outcome.frame, c);
      if (c.batchCheck.valid) {
        if (errorCode !== 0) return fail(c, `valid batches refused with error ${errorCode}`);
        for (const crc of c.batchCheck.crcs) acceptedCrcs[c.batchCheck.partition]!.add(crc);
        acceptedBatches[c.batchCheck.partition]! += c.batchCheck.crcs.length;
        report.batchesAccepted++;
      } else {
        if (!CORRUPT_BATCH_ERRORS.has(errorCode)) return fail(c, `corrupt batch answered with error ${errorCode}, not a batch rejection`);
        report.batchesRejected++;
      }
    }
  };

  let nextIndex = options.firstCase ?? 0;
  const endIndex = nextIndex + options.cases;
  const reconnect = async (): Promise<Connection | null> => {
    try {
      const connection = await Connection.open(options.host, options.port);
      connections.add(connection);
      return connection;
    } catch (error) {
      brokerDown ??= `cannot connect: ${(error as Error).message}`;
      return null;
    }
  };
  const lane = async () => {
    let connection: Connection | null = null;
    let inFlight: Promise<void>[] = [];
    const drain = async () => {
      await Promise.all(inFlight);
      inFlight = [];
    };
    while (nextIndex < endIndex && report.failures.length < maxFailures && brokerDown === null) {
      const c = generateCase(options.seed, nextIndex++, advertised, options.maxFrameBytes ?? 104_857_600);
      if (connection === null || connection.closed) {
        await drain();
        if (connection) connections.delete(connection);
        connection = await reconnect();
        if (connection === null) break;
      }
      const conn: Connection = connection;
      if (c.expect === "response" && !c.batchCheck) {
        inFlight.push(conn.send(c.frame).then((outcome) => judge(c, outcome)));
        if (inFlight.length >= pipelineDepth) await drain();
        continue;
      }
      // Anything that may close the connection goes alone, so a close is attributed to the right case.
      await drain();
      if (conn.closed) {
        connections.delete(conn);
        connection = await reconnect();
        if (connection === null) break;
      }
      const outcome = await connection.send(c.frame);
      judge(c, outcome);
      if (outcome.type === "timeout") connection.close();
    }
    await drain();
    connection?.close();
  };
  try {
    await Promise.all(Array.from({ length: lanes }, lane));
  } finally {
    clearInterval(monitor);
    for (const connection of connections) connection.close();
  }
  if (brokerDown) report.failures.push({ seed: options.seed, caseIndex: nextIndex - 1, kind: "liveness", reason: brokerDown, hex: "" });

  if (report.failures.length === 0) {
    for (let partition = 0; partition < VERIFY_PARTITIONS; partition++) {
      try {
        const { chunks, trimmed } = await fetchPartition(options.host, options.port, partition);
        const stored = chunks.flatMap(checkStoredBatches);
        const unknown = stored.filter((crc) => !acceptedCrcs[partition]!.has(crc));
        if (unknown.length > 0) throw new Error(`${unknown.length} stored batches were never accepted (CRCs ${unknown.slice(0, 5).join(", ")})`);
        const accepted = acceptedBatches[partition]!;
        if (trimmed ? stored.length > accepted : stored.length !== accepted) throw new Error(`${stored.length} batches stored, ${accepted} accepted`);
      } catch (error) {
        report.failures.push({ seed: options.seed, caseIndex: -1, kind: `verify ${VERIFY_TOPIC}-${partition}`, reason: (error as Error).message, hex: "" });
      }
    }
  }
  if (options.httpPort) {
    const health = await fetch(`http://${options.host}:${options.httpPort}/health`).catch((error) => error as Error);
    if (health instanceof Error || !health.ok) report.failures.push({ seed: options.seed, caseIndex: -1, kind: "liveness", reason: `/health: ${health instanceof Error ? health.message : health.status}`, hex: "" });
  }
  if (options.pid) {
    try {
      report.endRssKiB = rssKiB(options.pid);
    } catch {
      report.failures.push({ seed: options.seed, caseIndex: -1, kind: "liveness", reason: `broker process ${options.pid} is gone`, hex: "" });
    }
  }
  report.elapsedMs = performance.now() - startedMs;
  return report;
}

export function formatFailure(f: Failure): string {
  return `case ${f.caseIndex} (seed ${f.seed}, replay with FUZZ_SEED=${f.seed}) ${f.kind}: ${f.reason}${f.hex ? `\n  frame: ${f.hex}` : ""}`;
}
