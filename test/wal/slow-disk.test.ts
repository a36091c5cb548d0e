/**
 * A slow disk, injected with CHRONIK_TEST_FSYNC_DELAY_MS (every flush round waits before its fsync): an
 * acknowledgement still means the record is durable, and the broker keeps answering while the fsync is slow.
 * Nothing here asserts how long anything took; the delay only makes the window wide enough to look into.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createTopics } from "../../src/client/admin.ts";
import { KafkaConnection } from "../../src/client/connection.ts";
import { Consumer } from "../../src/client/consumer.ts";
import { Producer } from "../../src/client/producer.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";

const TOPIC = "slow-disk";
const FSYNC_DELAY_MS = 3000;

let broker: BrokerProcess;
let admin: KafkaConnection;

beforeAll(async () => {
  broker = await startBroker({ env: { CHRONIK_TEST_FSYNC_DELAY_MS: String(FSYNC_DELAY_MS) } });
  admin = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.kafkaPort });
  await admin.negotiateVersions();
  await createTopics(admin, [{ name: TOPIC, partitions: 1 }]);
});

afterAll(async () => {
  admin?.close();
  await broker?.cleanup();
});

async function flushedAppends(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${broker.httpPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("chronik_flushed_appends_total "));
  if (line === undefined) throw new Error("no chronik_flushed_appends_total in /metrics");
  return Number(line.split(" ")[1]);
}

test("with a slow fsync, acks=1 is answered only after the fsync, and the broker answers other requests meanwhile", async () => {
  const producer = await Producer.connect(broker.bootstrap, { acks: 1, lingerMs: 0 });
  const consumer = await Consumer.connect(broker.bootstrap, { maxWaitMs: 50 });
  try {
    // A first record settles every flush round begun before the test looks.
    expect(await producer.send({ topic: TOPIC, partition: 0, value: new TextEncoder().encode("first") })).toBe(0);
    const before = await flushedAppends();

    let acknowledged = false;
    const sent = producer.send({ topic: TOPIC, partition: 0, value: new TextEncoder().encode("second") }).then((offset) => {
      acknowledged = true;
      return offset;
    });

    // While the produce waits for its fsync: ApiVersions, Metadata and Fetch are answered.
    const versions = await admin.request<{ errorCode: number }>(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" });
    expect(versions.errorCode).toBe(ErrorCode.NONE);
    const metadata = await admin.request<{ topics: { name: string; errorCode: number }[] }>(ApiKey.Metadata, 9, {
      topics: [{ name: TOPIC }],
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    expect(metadata.topics.map((t) => [t.name, t.errorCode])).toEqual([[TOPIC, ErrorCode.NONE]]);
    consumer.assign([{ topic: TOPIC, partition: 0, offset: 0 }]);
    const visible = await consumer.poll();
    // The record not yet durable is neither acknowledged nor visible to readers, and its round has not completed.
    expect(acknowledged).toBe(false);
    expect(visible.map((r) => r.offset)).toEqual([0]);
    expect(consumer.highWatermark(TOPIC, 0)).toBe(1);
    expect(await flushedAppends()).toBe(before);

    // Once acknowledged, the flusher has counted it durable.
    expect(await sent).toBe(1);
    expect(await flushedAppends()).toBeGreaterThan(before);
  } finally {
    consumer.close();
    await producer.close();
  }
}, 60_000);
