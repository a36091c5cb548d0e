/**
 * A full disk under a running broker: its data dir is a small tmpfs. ENOSPC must reach producers as
 * KAFKA_STORAGE_ERROR, never as a crash, a hang, a corrupt segment or an acknowledgement of data that is not
 * stored, and the partition takes appends again once space is freed, without a restart. Needs root (mount).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTopics } from "../../src/client/admin.ts";
import { KafkaConnection, KafkaError } from "../../src/client/connection.ts";
import { Consumer } from "../../src/client/consumer.ts";
import { Producer } from "../../src/client/producer.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { fillDisk, mountTmpfs, tmpfsUnavailable, type Tmpfs } from "../helpers/tmpfs.ts";

const TOPIC = "full-disk";
const TMPFS_BYTES = 24 * 1024 * 1024;
/** Small, since a segment's disk blocks are reserved ahead of its writes. */
const SEGMENT_BYTES = 2 * 1024 * 1024;
const RECORD_BYTES = 8 * 1024;
const BALLAST_BYTES = 4 * 1024 * 1024;
/** Longest any one request may take: a broker that does not answer in this time is hanging. */
const ANSWER_DEADLINE_MS = 15_000;

const SKIP_REASON = tmpfsUnavailable();
if (SKIP_REASON !== null) test.skip(`a full disk (${SKIP_REASON})`, () => {});

let tmpfs: Tmpfs | null = null;
let broker: BrokerProcess | null = null;
const connections: KafkaConnection[] = [];

beforeAll(() => {
  if (SKIP_REASON !== null) return;
  tmpfs = mountTmpfs(TMPFS_BYTES, "chronik-full-disk-");
});

afterAll(async () => {
  for (const connection of connections) connection.close();
  await broker?.cleanup();
  tmpfs?.remove();
});

/** Fails instead of waiting forever: the broker must answer every request, if only with an error. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: Timer | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_DEADLINE_MS} ms: ${what}`)), ANSWER_DEADLINE_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Record n's value: its number, then a pattern derived from it, so a misplaced or altered byte shows. */
function valueOf(n: number): Uint8Array {
  const value = new Uint8Array(RECORD_BYTES);
  new DataView(value.buffer).setUint32(0, n);
  for (let i = 4; i < value.length; i++) value[i] = (n * 31 + i * 7) & 0xff;
  return value;
}

async function connect(bootstrapBroker: BrokerProcess): Promise<KafkaConnection> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: bootstrapBroker.kafkaPort });
  connections.push(connection);
  await connection.negotiateVersions();
  return connection;
}

/** Sends record n and resolves with its offset, or with the Kafka error code the broker answered. */
async function produce(producer: Producer, n: number): Promise<{ offset: number } | { errorCode: number }> {
  try {
    return { offset: await within(producer.send({ topic: TOPIC, partition: 0, value: valueOf(n) }), `produce of record ${n}`) };
  } catch (error) {
    if (error instanceof KafkaError) return { errorCode: error.errorCode };
    throw error;
  }
}

async function expectAnswering(connection: KafkaConnection): Promise<void> {
  const versions = await within(connection.request<{ errorCode: number }>(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" }), "ApiVersions");
  expect(versions.errorCode).toBe(ErrorCode.NONE);
  const metadata = await within(
    connection.request<{ topics: { name: string; errorCode: number; partitions: { errorCode: number; leaderId: number }[] }[] }>(ApiKey.Metadata, 9, {
      topics: [{ name: TOPIC }],
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    }),
    "Metadata",
  );
  expect(metadata.topics.map((t) => [t.name, t.errorCode, t.partitions[0]?.leaderId])).toEqual([[TOPIC, ErrorCode.NONE, 1]]);
}

/** Reads the partition from offset 0 to its end and checks it holds exactly the acknowledged records. */
async function expectExactlyAcknowledged(from: BrokerProcess, acknowledged: Map<number, number>): Promise<void> {
  const consumer = await within(Consumer.connect(from.bootstrap, { maxWaitMs: 100 }), "consumer connect");
  try {
    consumer.assign([{ topic: TOPIC, partition: 0, offset: 0 }]);
    const seen = new Map<number, Uint8Array | null>();
    while (seen.size < acknowledged.size) {
      const records = await within(consumer.poll(), "Fetch");
      if (records.length === 0) break;
      for (const record of records) seen.set(record.offset, record.value);
    }
    expect(consumer.highWatermark(TOPIC, 0)).toBe(acknowledged.size);
    expect(seen.size).toBe(acknowledged.size);
    for (const [offset, n] of acknowledged) expect(seen.get(offset)).toEqual(valueOf(n));
  } finally {
    consumer.close();
  }
}

test.skipIf(SKIP_REASON !== null)(
  "a full disk answers producers KAFKA_STORAGE_ERROR, keeps the broker serving and every acknowledged record intact, and appends resume once space is freed",
  async () => {
    const dir = tmpfs!.dir;
    broker = await startBroker({ dataDir: dir, keepData: true, args: ["--segment-bytes", String(SEGMENT_BYTES)] });
    const admin = await connect(broker);
    await createTopics(admin, [{ name: TOPIC, partitions: 1 }]);
    // One request at a time: each record is either acknowledged at its offset or refused, never in doubt.
    let producer = await Producer.connect(broker.bootstrap, { acks: -1, maxInFlightRequests: 1, lingerMs: 0 });
    /** Offset to record number, for every record the broker acknowledged. */
    const acknowledged = new Map<number, number>();
    let next = 0;
    // Held until space is to be freed: the log itself fills the disk to its last block.
    const ballast = join(dir, "ballast");
    writeFileSync(ballast, new Uint8Array(BALLAST_BYTES));

    /** Produces until the broker refuses a record (blocks it reserved ahead may still take some) and returns the refusal's code. */
    const produceUntilRefused = async (): Promise<number> => {
      const last = next + Math.ceil(TMPFS_BYTES / RECORD_BYTES);
      while (next < last) {
        const n = next++;
        const outcome = await produce(producer, n);
        if (!("offset" in outcome)) return outcome.errorCode;
        acknowledged.set(outcome.offset, n);
      }
      throw new Error(`a ${TMPFS_BYTES}-byte disk took ${TMPFS_BYTES} bytes of records`);
    };

    // The partition fills the disk: the first refusal is a storage error, and nothing before it is missing.
    expect(await produceUntilRefused()).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
    expect(acknowledged.size).toBeGreaterThan((TMPFS_BYTES - BALLAST_BYTES) / 2 / RECORD_BYTES);
    expect([...acknowledged.keys()]).toEqual([...acknowledged.keys()].map((_, i) => i));

    // Not one block left: every append is refused, and the broker still answers everything else.
    const filler = join(dir, "filler");
    fillDisk(filler);
    for (let i = 0; i < 20; i++) expect(await produce(producer, next++)).toEqual({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR });
    await expectAnswering(admin);
    await expectExactlyAcknowledged(broker, acknowledged);
    expect(broker.process.exitCode).toBeNull();

    // Space freed: the same partition takes appends again, with no restart.
    rmSync(filler);
    rmSync(ballast);
    for (let i = 0; i < 5; i++) {
      const outcome = await produce(producer, next);
      if (!("offset" in outcome)) throw new Error(`produce still refused after space was freed: error ${outcome.errorCode}`);
      acknowledged.set(outcome.offset, next++);
    }
    await expectExactlyAcknowledged(broker, acknowledged);

    // Full again, then killed: recovery on the same dir (space freed) keeps exactly what was acknowledged.
    fillDisk(filler);
    expect(await produceUntilRefused()).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
    await producer.close();
    expect(await broker.stop("SIGKILL")).not.toBe(0);
    rmSync(filler);
    broker = await startBroker({ dataDir: dir, keepData: true, args: ["--segment-bytes", String(SEGMENT_BYTES)] });
    const recovered = new RegExp(`recovered partition topic=${TOPIC} partition=0 clean=false segments=\\d+ logEndOffset=(\\d+) truncatedBytes=(\\d+)`).exec(broker.output());
    expect(recovered?.slice(1).map(Number)).toEqual([acknowledged.size, 0]);
    await expectExactlyAcknowledged(broker, acknowledged);
    producer = await Producer.connect(broker.bootstrap, { acks: -1, maxInFlightRequests: 1, lingerMs: 0 });
    expect(await produce(producer, next)).toEqual({ offset: acknowledged.size });
    await producer.close();
  },
  120_000,
);
