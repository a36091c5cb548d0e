/**
 * Real clients' own encoders and decoders against the generated codecs: requests kafkajs (classic versions)
 * and @platformatic/kafka (flexible versions) build are decoded here, and responses written here are parsed
 * by the clients' parsers.
 */
import { describe, expect, test } from "bun:test";
import { createRequire } from "node:module";
import { join } from "node:path";
import {
  readFetchRequest,
  readMetadataRequest,
  readProduceRequest,
  writeMetadataResponse,
  writeProduceResponse,
} from "../../src/protocol/generated/index.ts";
import { Reader, uuidToBytes } from "../../src/protocol/reader.ts";
import { Writer } from "../../src/protocol/writer.ts";

const require = createRequire(import.meta.url);
const MAGIC_OFFSET = 16;

interface KafkajsRequest {
  encode(): Promise<{ buffer: Buffer }>;
}
type KafkajsRequestFactory = (args: Record<string, unknown>) => KafkajsRequest;
const kafkajs = (path: string): KafkajsRequestFactory => require(`kafkajs/src/protocol/requests/${path}`) as KafkajsRequestFactory;

describe("kafkajs", () => {
  test("Metadata v6 request", async () => {
    const request = kafkajs("metadata/v6/request")({ topics: ["orders", "payments"], allowAutoTopicCreation: false });
    const frame = new Uint8Array((await request.encode()).buffer);
    const r = new Reader(frame);
    const decoded = readMetadataRequest(r, 6);
    expect(decoded.topics?.map((t) => t.name)).toEqual(["orders", "payments"]);
    expect(decoded.allowAutoTopicCreation).toBe(false);
    expect(r.remaining()).toBe(0);
  });

  test("Produce v7 request with a record batch", async () => {
    const request = kafkajs("produce/v7/request")({
      acks: -1,
      timeout: 30000,
      topicData: [{ topic: "orders", partitions: [{ partition: 2, messages: [{ key: "k", value: "v", timestamp: 1 }] }] }],
    });
    const frame = new Uint8Array((await request.encode()).buffer);
    const r = new Reader(frame);
    const decoded = readProduceRequest(r, 7);
    expect(decoded.acks).toBe(-1);
    expect(decoded.timeoutMs).toBe(30000);
    expect(decoded.transactionalId).toBeNull();
    const partition = decoded.topicData[0]!.partitionData[0]!;
    expect(decoded.topicData[0]!.name).toBe("orders");
    expect(partition.index).toBe(2);
    expect(partition.records![MAGIC_OFFSET]).toBe(2);
    expect(r.remaining()).toBe(0);
  });

  test("Metadata v6 response written here, parsed by kafkajs", async () => {
    const w = new Writer();
    writeMetadataResponse(w, 6, {
      brokers: [{ nodeId: 1, host: "localhost", port: 9092, rack: null }],
      clusterId: "cluster-a",
      controllerId: 1,
      topics: [{ name: "orders", partitions: [{ partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1] }] }],
    });
    const { decode, parse } = require("kafkajs/src/protocol/requests/metadata/v6/response") as {
      decode(b: Buffer): Promise<unknown>;
      parse(d: unknown): Promise<Record<string, any>>;
    };
    const parsed = await parse(await decode(Buffer.from(w.toBytes())));
    expect(parsed.clusterId).toBe("cluster-a");
    expect(parsed.brokers).toEqual([{ nodeId: 1, host: "localhost", port: 9092, rack: null }]);
    expect(parsed.topicMetadata[0].topic).toBe("orders");
    expect(parsed.topicMetadata[0].partitionMetadata[0].replicas).toEqual([1]);
  });

  test("Produce v7 response written here, parsed by kafkajs", async () => {
    const w = new Writer();
    writeProduceResponse(w, 7, {
      responses: [{ name: "orders", partitionResponses: [{ index: 2, baseOffset: 2 ** 40 + 3, logAppendTimeMs: -1, logStartOffset: 0 }] }],
      throttleTimeMs: 0,
    });
    const { decode, parse } = require("kafkajs/src/protocol/requests/produce/v7/response") as {
      decode(b: Buffer): Promise<unknown>;
      parse(d: unknown): Promise<Record<string, any>>;
    };
    const parsed = await parse(await decode(Buffer.from(w.toBytes())));
    expect(parsed.topics[0].topicName).toBe("orders");
    expect(parsed.topics[0].partitions[0].baseOffset).toBe(String(2 ** 40 + 3));
  });
});

describe("@platformatic/kafka (flexible versions)", () => {
  // The package exports only its entry point; its per-API modules are loaded by file path.
  const pkg = (path: string) => import(join(import.meta.dir, "../../node_modules/@platformatic/kafka/dist", path));

  test("Metadata v12 request", async () => {
    const { createRequest } = await pkg("apis/metadata/metadata-v12.js");
    const frame = new Uint8Array(createRequest(["orders"], true, false).buffer);
    const r = new Reader(frame);
    const decoded = readMetadataRequest(r, 12);
    expect(decoded.topics?.map((t) => t.name)).toEqual(["orders"]);
    expect(decoded.allowAutoTopicCreation).toBe(true);
    expect(r.remaining()).toBe(0);
  });

  test("Produce v11 request with a record batch", async () => {
    const { createRequest } = await pkg("apis/producer/produce-v11.js");
    const frame = new Uint8Array(
      createRequest(1, 5000, [{ topic: "orders", partition: 1, key: Buffer.from("k"), value: Buffer.from("v") }]).buffer,
    );
    const r = new Reader(frame);
    const decoded = readProduceRequest(r, 11);
    expect(decoded.acks).toBe(1);
    expect(decoded.topicData[0]!.name).toBe("orders");
    expect(decoded.topicData[0]!.partitionData[0]!.index).toBe(1);
    expect(decoded.topicData[0]!.partitionData[0]!.records![MAGIC_OFFSET]).toBe(2);
    expect(r.remaining()).toBe(0);
  });

  test("Fetch v17 request", async () => {
    const { createRequest } = await pkg("apis/consumer/fetch-v17.js");
    const topicId = "12345678-1234-4234-8234-123456789abc";
    const topics = [{ topicId, partitions: [{ partition: 3, currentLeaderEpoch: 5, fetchOffset: 100n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1048576 }] }];
    const frame = new Uint8Array(createRequest(500, 1, 52428800, 0, 0, -1, topics, [], "").buffer);
    const r = new Reader(frame);
    const decoded = readFetchRequest(r, 17);
    expect(decoded.maxWaitMs).toBe(500);
    expect(decoded.sessionEpoch).toBe(-1);
    const partition = decoded.topics[0]!.partitions[0]!;
    expect(Buffer.from(uuidToBytes(decoded.topics[0]!.topicId)).toString("hex")).toBe(topicId.replace(/-/g, ""));
    expect(partition.partition).toBe(3);
    expect(partition.currentLeaderEpoch).toBe(5);
    expect(partition.fetchOffset).toBe(100);
    expect(partition.partitionMaxBytes).toBe(1048576);
    expect(r.remaining()).toBe(0);
  });

  test("Metadata v12 response written here, parsed by the client", async () => {
    const { parseResponse } = await pkg("apis/metadata/metadata-v12.js");
    const { Reader: ClientReader } = await pkg("protocol/reader.js");
    const topicIdBytes = new Uint8Array(16).map((_, i) => i + 1);
    const w = new Writer();
    writeMetadataResponse(w, 12, {
      brokers: [{ nodeId: 1, host: "localhost", port: 9092, rack: "r1" }],
      clusterId: "cluster-a",
      controllerId: 1,
      topics: [{
        name: "orders",
        topicId: Buffer.from(topicIdBytes).toString("base64url"),
        partitions: [{ partitionIndex: 0, leaderId: 1, leaderEpoch: 4, replicaNodes: [1], isrNodes: [1] }],
      }],
    });
    const parsed = parseResponse(0, 3, 12, ClientReader.from(Buffer.from(w.toBytes())));
    expect(parsed.clusterId).toBe("cluster-a");
    expect(parsed.brokers[0]).toEqual({ nodeId: 1, host: "localhost", port: 9092, rack: "r1" });
    expect(parsed.topics[0].name).toBe("orders");
    expect(parsed.topics[0].topicId.replace(/-/g, "")).toBe(Buffer.from(topicIdBytes).toString("hex"));
    expect(parsed.topics[0].partitions[0].leaderEpoch).toBe(4);
  });
});
