/**
 * Brokers before groups were replicated kept the groups' records in LMDB (metadata.lmdb, "group-records"). A broker
 * started on such a data dir moves the records of the groups it coordinates into the metadata log, so committed
 * offsets survive the upgrade, and empties the LMDB database.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KafkaConnection } from "../../src/client/connection.ts";
import { LmdbGroupRecordStore } from "../../src/group/group-record-store.ts";
import { MetadataStore } from "../../src/metadata/store.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";

const dataDir = mkdtempSync(join(tmpdir(), "chronik-legacy-groups-"));
let broker: BrokerProcess | null = null;
let connection: KafkaConnection | null = null;

afterAll(async () => {
  connection?.close();
  await broker?.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

test("committed offsets kept in LMDB by an earlier build are there after the upgrade, and LMDB no longer holds them", async () => {
  const legacy = MetadataStore.open(dataDir);
  await new LmdbGroupRecordStore(legacy.database("group-records")).write([
    { type: "group", groupId: "old-group", protocolType: "consumer", generationId: 12, emptySinceMs: 1_000 },
    { type: "offset", groupId: "old-group", topic: "orders", partition: 0, offset: 4_321, leaderEpoch: -1, metadata: "kept", commitTimestampMs: Date.now() },
  ]);
  await legacy.close();

  broker = await startBroker({ dataDir, keepData: true });
  expect(broker.output()).toContain("group records moved from LMDB to the metadata log");
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.kafkaPort });
  await connection.negotiateVersions();
  const fetched = await connection.request<{ groups: { errorCode: number; topics: { partitions: { committedOffset: number; metadata: string }[] }[] }[] }>(ApiKey.OffsetFetch, 8, {
    groups: [{ groupId: "old-group", topics: [{ name: "orders", partitionIndexes: [0] }] }],
    requireStable: false,
  });
  expect(fetched.groups[0]!.errorCode).toBe(ErrorCode.NONE);
  expect(fetched.groups[0]!.topics[0]!.partitions[0]).toMatchObject({ committedOffset: 4_321, metadata: "kept" });

  connection.close();
  connection = null;
  expect(await broker.stop("SIGTERM")).toBe(0);
  const after = MetadataStore.open(dataDir);
  try {
    expect(new LmdbGroupRecordStore(after.database("group-records")).load()).toEqual([]);
  } finally {
    await after.close();
  }
}, 60_000);
