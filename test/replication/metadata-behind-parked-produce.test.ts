/**
 * A Metadata request pipelined behind an acks=all Produce that waits for a dead follower is answered with the
 * metadata as it is once the produce is answered, not as it was when the request arrived. Found by the failover
 * test: a broker answered such a request only after the dead broker was fenced (3.4 s later), still naming it as
 * leader of its partitions; librdkafka 2.0 applied that answer after fresher ones and kept sending those partitions
 * to the dead broker until their messages timed out.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildRecordBatch, text } from "../../src/protocol/record-batch-builder.ts";
import { startCluster, type ClusterProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { CLUSTER_ARGS, agreedLeaders, createTopic, kcatPartitions } from "./cluster-helpers.ts";

const TOPIC = "metadata-behind-produce";
const PARTITIONS = 3;

let cluster: ClusterProcess;
beforeAll(async () => {
  cluster = await startCluster(3, CLUSTER_ARGS);
}, 90_000);
afterAll(async () => {
  await cluster?.cleanup();
});

test("a Metadata request queued behind a parked acks=all produce reflects the fence that released the produce", async () => {
  await createTopic(cluster.node(1), TOPIC, PARTITIONS, 3);
  const leaders = await agreedLeaders(cluster, TOPIC, PARTITIONS);
  const { controllerId } = (await (await fetch(`http://127.0.0.1:${cluster.node(1).httpPort}/api/cluster`)).json()) as { controllerId: number };
  // The follower to stop leads a partition and is not the controller, so its fence comes after one session timeout.
  const stopped = leaders.find((id) => id !== controllerId)!;
  const writer = leaders.find((id) => id !== stopped)!;
  const written = leaders.indexOf(writer);
  const ledByStopped = leaders.flatMap((leader, partition) => (leader === stopped ? [partition] : []));
  expect((await kcatPartitions(cluster.node(writer), TOPIC))[written]!.isrs.map((r) => r.id)).toContain(stopped);

  cluster.node(stopped).process.kill("SIGSTOP");
  const client = await RawClient.connect(cluster.node(writer).kafkaPort);
  try {
    client.send(ApiKey.Produce, 8, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 30_000,
      topicData: [{ name: TOPIC, partitionData: [{ index: written, records: buildRecordBatch([{ key: null, value: text("parked") }]) }] }],
    });
    client.send(ApiKey.Metadata, 4, { topics: [{ name: TOPIC }], allowAutoTopicCreation: false });
    const produced = await client.receive(ApiKey.Produce, 8);
    expect(produced.body.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
    const metadata = (await client.receive(ApiKey.Metadata, 4)).body;
    const answer = metadata.topics[0].partitions as { partitionIndex: number; leaderId: number; isrNodes: number[] }[];
    expect(metadata.brokers.map((b: { nodeId: number }) => b.nodeId)).not.toContain(stopped);
    expect(answer.filter((p) => ledByStopped.includes(p.partitionIndex) && p.leaderId === stopped)).toEqual([]);
    expect(answer.find((p) => p.partitionIndex === written)!.isrNodes).not.toContain(stopped);
  } finally {
    client.close();
    cluster.node(stopped).process.kill("SIGCONT");
  }
}, 60_000);
