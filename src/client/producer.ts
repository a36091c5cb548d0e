/**
 * A batching producer on one broker connection. Records collect per partition in a BatchAccumulator; a batch
 * is sent when it is full or its linger time ends, and every ready batch goes into one Produce request (a
 * partition's several batches travel back to back in its records field). While maxInFlightRequests Produce
 * requests are unanswered, batches keep filling: under load, batches grow instead of requests queueing.
 *
 * The producer sends to the broker it is connected to, so that broker must lead the partitions it writes
 * (a single node, or a client that routes by Metadata above this class).
 */
import { ErrorCode } from "../protocol/error-codes.ts";
import { ApiKey, type ProduceResponse } from "../protocol/generated/index.ts";
import { RECORDS_OFFSET } from "../protocol/record-batch.ts";
import { BatchAccumulator, type RecordHeaderInput } from "./batch-accumulator.ts";
import { KafkaConnection, KafkaError, parseBootstrap } from "./connection.ts";

export type Acks = 0 | 1 | -1;

export interface ProducerOptions {
  /** -1 (all in-sync replicas), 1 (leader) or 0 (no response). Default -1. */
  acks?: Acks;
  /** How long a batch waits for more records before it is sent; 0 sends at the end of the event-loop turn. */
  lingerMs?: number;
  /** A batch is sent once it reaches this size. */
  batchBytes?: number;
  /** Bytes in batches not yet acknowledged; append() throws past it (wait with waitForSpace()). */
  maxBufferedBytes?: number;
  /** Produce requests unanswered at once on the connection (Kafka's max.in.flight.requests.per.connection). */
  maxInFlightRequests?: number;
  /** Ask for a producer id and number batches, so the broker drops duplicates. */
  idempotent?: boolean;
  /** The broker's wait for replication (Produce timeoutMs). */
  requestTimeoutMs?: number;
  /** Called once per batch when it is acknowledged or fails, in send order per partition. */
  onDelivery?: (report: DeliveryReport) => void;
}

export interface DeliveryReport {
  topic: string;
  partition: number;
  /** Offset of the batch's first record; -1 with acks=0 or on error. */
  baseOffset: number;
  recordCount: number;
  error: Error | null;
}

export interface ProduceRecord {
  topic: string;
  partition: number;
  value: Uint8Array | null;
  key?: Uint8Array | null;
  headers?: readonly RecordHeaderInput[];
  timestampMs?: number;
}

type OffsetWaiter = { resolve(offset: number): void; reject(error: Error): void };

interface PartitionState {
  topic: string;
  partition: number;
  open: BatchAccumulator | null;
  waiters: OffsetWaiter[] | null;
  nextSequence: number;
  lastBatchBytes: number;
}

interface ReadyBatch {
  state: PartitionState;
  bytes: Uint8Array;
  recordCount: number;
  waiters: OffsetWaiter[] | null;
}

export class BufferFullError extends Error {
  override name = "BufferFullError";
}

const MAX_IDEMPOTENT_IN_FLIGHT = 5;
const PRODUCE_MAX_VERSION = 11;
const MIN_BATCH_BUFFER_BYTES = 1024;

export class Producer {
  readonly acks: Acks;
  private readonly lingerMs: number;
  private readonly batchBytes: number;
  private readonly maxBufferedBytes: number;
  private readonly maxInFlightRequests: number;
  private readonly requestTimeoutMs: number;
  private readonly onDelivery: ((report: DeliveryReport) => void) | null;
  private readonly partitions = new Map<string, PartitionState[]>();
  /** Partitions with an open batch, in the order they opened (oldest linger deadline first). */
  private readonly openStates = new Set<PartitionState>();
  private ready: ReadyBatch[] = [];
  private inFlightRequests = 0;
  private bufferedBytesNow = 0;
  private unackedBatches = 0;
  private sendScheduled = false;
  private lingerTimer: ReturnType<typeof setTimeout> | null = null;
  private idleWaiters: (() => void)[] = [];
  private spaceWaiters: (() => void)[] = [];
  private producerId = -1;
  private producerEpoch = -1;
  private readonly produceVersion: number;

  private constructor(
    readonly connection: KafkaConnection,
    private readonly ownsConnection: boolean,
    options: ProducerOptions,
  ) {
    this.acks = options.acks ?? -1;
    this.lingerMs = options.lingerMs ?? 0;
    this.batchBytes = options.batchBytes ?? 64 * 1024;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.maxInFlightRequests = options.maxInFlightRequests ?? 5;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.onDelivery = options.onDelivery ?? null;
    if (![0, 1, -1].includes(this.acks)) throw new RangeError(`acks must be 0, 1 or -1, got ${this.acks}`);
    if (options.idempotent && this.maxInFlightRequests > MAX_IDEMPOTENT_IN_FLIGHT) {
      throw new RangeError(`an idempotent producer allows at most ${MAX_IDEMPOTENT_IN_FLIGHT} requests in flight`);
    }
    this.produceVersion = connection.pickVersion(ApiKey.Produce, PRODUCE_MAX_VERSION);
  }

  /** A producer on an already negotiated connection (negotiateVersions() done); the caller closes it. */
  static async create(connection: KafkaConnection, options: ProducerOptions = {}): Promise<Producer> {
    const producer = new Producer(connection, false, options);
    if (options.idempotent) await producer.initProducerId();
    return producer;
  }

  /** Connects to "host:port", negotiates versions, and returns a producer that owns the connection. */
  static async connect(bootstrap: string, options: ProducerOptions & { clientId?: string } = {}): Promise<Producer> {
    const connection = await KafkaConnection.connect({ ...parseBootstrap(bootstrap), clientId: options.clientId });
    try {
      await connection.negotiateVersions();
      const producer = new Producer(connection, true, options);
      if (options.idempotent) await producer.initProducerId();
      return producer;
    } catch (error) {
      connection.close();
      throw error;
    }
  }

  get bufferedBytes(): number {
    return this.bufferedBytesNow;
  }

  /** Queues one record; delivery is reported through onDelivery. Throws BufferFullError past maxBufferedBytes. */
  append(topic: string, partition: number, value: Uint8Array | null, key: Uint8Array | null = null, headers?: readonly RecordHeaderInput[], timestampMs = Date.now()): void {
    this.appendRecord(topic, partition, value, key, headers, timestampMs, null);
  }

  /** Queues one record and resolves with its offset (-1 with acks=0). */
  send(record: ProduceRecord): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.appendRecord(record.topic, record.partition, record.value, record.key ?? null, record.headers, record.timestampMs ?? Date.now(), { resolve, reject });
    });
  }

  /** Resolves when buffered bytes are below the bound again. */
  waitForSpace(): Promise<void> {
    if (this.bufferedBytesNow < this.maxBufferedBytes) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  /** Sends every open batch now and resolves when all batches sent so far are acknowledged. */
  flush(): Promise<void> {
    for (const state of this.openStates) this.sealOpen(state);
    this.openStates.clear();
    this.sendReady();
    if (this.unackedBatches === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    if (this.ownsConnection) this.connection.close();
  }

  private async initProducerId(): Promise<void> {
    const version = this.connection.pickVersion(ApiKey.InitProducerId, 4);
    const response = await this.connection.request<{ errorCode: number; producerId: number; producerEpoch: number }>(ApiKey.InitProducerId, version, {
      transactionalId: null,
      transactionTimeoutMs: -1,
      producerId: -1,
      producerEpoch: -1,
    });
    if (response.errorCode !== ErrorCode.NONE) throw new KafkaError(response.errorCode, "InitProducerId");
    this.producerId = response.producerId;
    this.producerEpoch = response.producerEpoch;
  }

  private appendRecord(
    topic: string,
    partition: number,
    value: Uint8Array | null,
    key: Uint8Array | null,
    headers: readonly RecordHeaderInput[] | undefined,
    timestampMs: number,
    waiter: OffsetWaiter | null,
  ): void {
    if (this.bufferedBytesNow >= this.maxBufferedBytes) {
      const error = new BufferFullError(`${this.bufferedBytesNow} bytes buffered, bound ${this.maxBufferedBytes}`);
      if (waiter === null) throw error;
      waiter.reject(error);
      return;
    }
    const state = this.stateOf(topic, partition);
    if (state.open !== null && !state.open.fits(key, value, headers)) {
      this.sealOpen(state);
      this.openStates.delete(state);
      this.scheduleSend();
    }
    if (state.open === null) {
      // Size the buffer from this partition's last batch: under steady load it rarely needs to grow.
      state.open = new BatchAccumulator(this.batchBytes, Math.max(MIN_BATCH_BUFFER_BYTES, Math.ceil(state.lastBatchBytes * 1.25)));
      this.openStates.add(state);
      if (this.lingerMs > 0) this.armLinger();
      else this.scheduleSend();
    }
    const before = state.open.byteLength;
    state.open.append(key, value, headers, timestampMs);
    this.bufferedBytesNow += state.open.byteLength - before;
    if (waiter !== null) (state.waiters ??= []).push(waiter);
    if (state.open.byteLength >= this.batchBytes) {
      this.sealOpen(state);
      this.openStates.delete(state);
      this.scheduleSend();
    }
  }

  private stateOf(topic: string, partition: number): PartitionState {
    let states = this.partitions.get(topic);
    if (states === undefined) {
      states = [];
      this.partitions.set(topic, states);
    }
    let state = states[partition];
    if (state === undefined) {
      if (!Number.isInteger(partition) || partition < 0) throw new RangeError(`partition must be a non-negative integer, got ${partition}`);
      state = { topic, partition, open: null, waiters: null, nextSequence: 0, lastBatchBytes: 0 };
      states[partition] = state;
    }
    return state;
  }

  private sealOpen(state: PartitionState): void {
    const open = state.open;
    if (open === null) return;
    let baseSequence = -1;
    if (this.producerId >= 0) {
      baseSequence = state.nextSequence;
      state.nextSequence = (state.nextSequence + open.recordCount) % 0x8000_0000;
    }
    state.lastBatchBytes = open.byteLength;
    this.ready.push({ state, bytes: open.seal(this.producerId, this.producerEpoch, baseSequence), recordCount: open.recordCount, waiters: state.waiters });
    this.unackedBatches++;
    state.open = null;
    state.waiters = null;
  }

  private armLinger(): void {
    if (this.lingerTimer !== null) return;
    this.lingerTimer = setTimeout(() => this.onLinger(), this.lingerMs);
  }

  /** Seals batches whose linger has passed, sends, and re-arms for the oldest still open. */
  private onLinger(): void {
    this.lingerTimer = null;
    const nowMs = performance.now();
    for (const state of this.openStates) {
      if (state.open !== null && nowMs - state.open.firstAppendMs < this.lingerMs - 0.5) break;
      this.sealOpen(state);
      this.openStates.delete(state);
    }
    this.sendReady();
    const oldest = this.openStates.values().next().value;
    if (oldest?.open) this.lingerTimer = setTimeout(() => this.onLinger(), Math.max(0, this.lingerMs - (nowMs - oldest.open.firstAppendMs)));
  }

  private scheduleSend(): void {
    if (this.sendScheduled) return;
    this.sendScheduled = true;
    setImmediate(() => {
      this.sendScheduled = false;
      if (this.lingerMs === 0) {
        for (const state of this.openStates) this.sealOpen(state);
        this.openStates.clear();
      }
      this.sendReady();
    });
  }

  private sendReady(): void {
    if (this.connection.closed && this.ready.length > 0) {
      const batches = this.ready;
      this.ready = [];
      const error = new Error("the producer's connection is closed");
      for (const batch of batches) this.complete(batch, -1, error);
      return;
    }
    while (this.ready.length > 0 && !this.connection.closed && (this.acks === 0 || this.inFlightRequests < this.maxInFlightRequests)) {
      this.sendRequest();
    }
  }

  /** Sends one Produce request with the ready batches (an idempotent producer: one batch per partition). */
  private sendRequest(): void {
    const batches: ReadyBatch[] = [];
    const later: ReadyBatch[] = [];
    const byTopic = new Map<string, Map<number, ReadyBatch[]>>();
    for (const batch of this.ready) {
      let byPartition = byTopic.get(batch.state.topic);
      if (byPartition === undefined) byTopic.set(batch.state.topic, (byPartition = new Map()));
      const list = byPartition.get(batch.state.partition);
      if (list === undefined) byPartition.set(batch.state.partition, [batch]);
      else if (this.producerId >= 0) {
        later.push(batch);
        continue;
      } else list.push(batch);
      batches.push(batch);
    }
    this.ready = later;
    const body = {
      transactionalId: null,
      acks: this.acks,
      timeoutMs: this.requestTimeoutMs,
      topicData: [...byTopic].map(([name, byPartition]) => ({
        name,
        partitionData: [...byPartition].map(([index, list]) => ({ index, records: list.length === 1 ? list[0]!.bytes : list.map((b) => b.bytes) })),
      })),
    };
    if (this.acks === 0) {
      this.connection.send(ApiKey.Produce, this.produceVersion, body);
      for (const batch of batches) this.complete(batch, -1, null);
      return;
    }
    this.inFlightRequests++;
    this.connection.request<ProduceResponse>(ApiKey.Produce, this.produceVersion, body).then(
      (response) => {
        this.inFlightRequests--;
        this.onResponse(byTopic, response);
        this.sendReady();
      },
      (error: Error) => {
        this.inFlightRequests--;
        for (const batch of batches) this.complete(batch, -1, error);
        this.sendReady();
      },
    );
  }

  private onResponse(sent: Map<string, Map<number, ReadyBatch[]>>, response: ProduceResponse): void {
    for (const topic of response.responses) {
      const byPartition = sent.get(topic.name);
      for (const p of topic.partitionResponses) {
        const list = byPartition?.get(p.index);
        if (list === undefined) continue;
        byPartition!.delete(p.index);
        const error = p.errorCode === ErrorCode.NONE ? null : new KafkaError(p.errorCode, `produce to ${topic.name}-${p.index}${p.errorMessage ? ` (${p.errorMessage})` : ""}`);
        let offset = p.baseOffset;
        for (const batch of list) {
          this.complete(batch, error === null ? offset : -1, error);
          offset += batch.recordCount;
        }
      }
    }
    for (const [name, byPartition] of sent) {
      for (const [index, list] of byPartition) {
        const error = new Error(`Produce response has no result for ${name}-${index}`);
        for (const batch of list) this.complete(batch, -1, error);
      }
    }
  }

  private complete(batch: ReadyBatch, baseOffset: number, error: Error | null): void {
    this.unackedBatches--;
    this.bufferedBytesNow -= batch.bytes.byteLength - RECORDS_OFFSET;
    this.onDelivery?.({ topic: batch.state.topic, partition: batch.state.partition, baseOffset, recordCount: batch.recordCount, error });
    if (batch.waiters !== null) {
      for (let i = 0; i < batch.waiters.length; i++) {
        if (error === null) batch.waiters[i]!.resolve(baseOffset < 0 ? -1 : baseOffset + i);
        else batch.waiters[i]!.reject(error);
      }
    }
    if (this.bufferedBytesNow < this.maxBufferedBytes && this.spaceWaiters.length > 0) {
      const waiters = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (this.unackedBatches === 0 && this.openStates.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}
