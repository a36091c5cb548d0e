/**
 * A consumer with manual assignment: it fetches the assigned partitions from given offsets and decodes their
 * records. One Fetch is kept in flight ahead of the caller: as soon as a response is decoded the next request
 * goes out, so decoding and handling overlap with the broker's work. No consumer group, no committed offsets.
 */
import { ErrorCode } from "../protocol/error-codes.ts";
import { ApiKey, type FetchResponse } from "../protocol/generated/index.ts";
import { KafkaConnection, KafkaError, parseBootstrap } from "./connection.ts";
import { decodeRecords, type DecodedRecord } from "./record-decoder.ts";

export interface ConsumerOptions {
  /** Longest time the broker holds a Fetch waiting for minBytes. */
  maxWaitMs?: number;
  minBytes?: number;
  maxBytes?: number;
  partitionMaxBytes?: number;
  /** Verify each batch's CRC-32C before decoding it. */
  checkCrc?: boolean;
}

export interface Assignment {
  topic: string;
  partition: number;
  /** First offset to read. */
  offset: number;
}

export interface ConsumerRecord extends DecodedRecord {
  topic: string;
  partition: number;
}

interface Position {
  topic: string;
  partition: number;
  offset: number;
  highWatermark: number;
}

/** Fetch v12 is the newest that names topics; v13+ needs topic ids from Metadata. */
const FETCH_MAX_VERSION = 12;

export class Consumer {
  private readonly positions = new Map<string, Position>();
  private readonly maxWaitMs: number;
  private readonly minBytes: number;
  private readonly maxBytes: number;
  private readonly partitionMaxBytes: number;
  private readonly checkCrc: boolean;
  private readonly fetchVersion: number;
  private prefetch: Promise<FetchResponse> | null = null;

  private constructor(
    readonly connection: KafkaConnection,
    private readonly ownsConnection: boolean,
    options: ConsumerOptions,
  ) {
    this.maxWaitMs = options.maxWaitMs ?? 500;
    this.minBytes = options.minBytes ?? 1;
    this.maxBytes = options.maxBytes ?? 50 * 1024 * 1024;
    this.partitionMaxBytes = options.partitionMaxBytes ?? 1024 * 1024;
    this.checkCrc = options.checkCrc ?? true;
    this.fetchVersion = connection.pickVersion(ApiKey.Fetch, FETCH_MAX_VERSION);
  }

  /** A consumer on an already negotiated connection; the caller closes it. */
  static create(connection: KafkaConnection, options: ConsumerOptions = {}): Consumer {
    return new Consumer(connection, false, options);
  }

  static async connect(bootstrap: string, options: ConsumerOptions & { clientId?: string } = {}): Promise<Consumer> {
    const connection = await KafkaConnection.connect({ ...parseBootstrap(bootstrap), clientId: options.clientId });
    try {
      await connection.negotiateVersions();
      return new Consumer(connection, true, options);
    } catch (error) {
      connection.close();
      throw error;
    }
  }

  /** Replaces the assignment. A fetch already in flight is answered but its records are dropped. */
  assign(assignments: readonly Assignment[]): void {
    this.positions.clear();
    for (const a of assignments) {
      if (!Number.isSafeInteger(a.offset) || a.offset < 0) throw new RangeError(`offset must be >= 0, got ${a.offset}`);
      this.positions.set(`${a.topic}\0${a.partition}`, { topic: a.topic, partition: a.partition, offset: a.offset, highWatermark: -1 });
    }
    this.prefetch = null;
  }

  /** The next offset to read of each assigned partition. */
  position(topic: string, partition: number): number {
    const p = this.positions.get(`${topic}\0${partition}`);
    if (p === undefined) throw new Error(`${topic}-${partition} is not assigned`);
    return p.offset;
  }

  /** The high watermark from the last fetch of a partition, -1 before the first. */
  highWatermark(topic: string, partition: number): number {
    return this.positions.get(`${topic}\0${partition}`)?.highWatermark ?? -1;
  }

  /**
   * Waits for the next fetch and calls visit for each of its records (in offset order per partition).
   * Returns the number of records visited; 0 when the fetch waited maxWaitMs and found nothing.
   */
  async pollEach(visit: (record: ConsumerRecord) => void): Promise<number> {
    if (this.positions.size === 0) throw new Error("poll without an assignment");
    const pending = this.prefetch ?? this.fetch();
    const fetchedFrom = new Map<string, number>();
    for (const [key, p] of this.positions) fetchedFrom.set(key, p.offset);
    this.prefetch = null;
    const response = await pending;
    if (response.errorCode !== ErrorCode.NONE) throw new KafkaError(response.errorCode, "Fetch");
    let visited = 0;
    for (const topic of response.responses) {
      for (const p of topic.partitions) {
        const key = `${topic.topic}\0${p.partitionIndex}`;
        const position = this.positions.get(key);
        if (position === undefined || fetchedFrom.get(key) !== position.offset) continue;
        if (p.errorCode !== ErrorCode.NONE) throw new KafkaError(p.errorCode, `fetch ${topic.topic}-${p.partitionIndex} at ${position.offset}`);
        position.highWatermark = p.highWatermark;
        if (p.records === null || p.records.byteLength === 0) continue;
        const result = decodeRecords(
          p.records,
          position.offset,
          (record) => {
            visited++;
            const consumerRecord = record as ConsumerRecord;
            consumerRecord.topic = topic.topic;
            consumerRecord.partition = p.partitionIndex;
            visit(consumerRecord);
          },
          { checkCrc: this.checkCrc },
        );
        if (result.consumedBytes === 0 && p.records.byteLength >= this.partitionMaxBytes) {
          throw new Error(`a batch in ${topic.topic}-${p.partitionIndex} at ${position.offset} is larger than partitionMaxBytes ${this.partitionMaxBytes}`);
        }
        position.offset = result.nextOffset;
      }
    }
    if (!this.connection.closed) this.prefetch = this.fetch();
    return visited;
  }

  /** Like pollEach, collecting the records into an array. */
  async poll(): Promise<ConsumerRecord[]> {
    const records: ConsumerRecord[] = [];
    await this.pollEach((record) => records.push(record));
    return records;
  }

  close(): void {
    this.prefetch?.catch(() => {});
    this.prefetch = null;
    if (this.ownsConnection) this.connection.close();
  }

  private fetch(): Promise<FetchResponse> {
    const byTopic = new Map<string, { partition: number; fetchOffset: number; partitionMaxBytes: number }[]>();
    for (const p of this.positions.values()) {
      let list = byTopic.get(p.topic);
      if (list === undefined) byTopic.set(p.topic, (list = []));
      list.push({ partition: p.partition, fetchOffset: p.offset, partitionMaxBytes: this.partitionMaxBytes });
    }
    const request = this.connection.request<FetchResponse>(ApiKey.Fetch, this.fetchVersion, {
      replicaId: -1,
      maxWaitMs: this.maxWaitMs,
      minBytes: this.minBytes,
      maxBytes: this.maxBytes,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions: partitions.map((p) => ({ ...p, currentLeaderEpoch: -1, lastFetchedEpoch: -1, logStartOffset: -1 })) })),
      forgottenTopicsData: [],
      rackId: "",
    });
    request.catch(() => {});
    return request;
  }
}
