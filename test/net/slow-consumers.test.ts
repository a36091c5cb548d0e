/**
 * Slow consumers (issue #10): clients that pipeline Fetch requests over a topic holding a lot of data and never
 * read the answers, so their TCP receive windows fill. The broker must stop reading their requests once their
 * unread answers pass --max-queued-response-bytes, keep its memory bounded, and keep acknowledging a producer on
 * another partition. Latencies are printed for the record, never asserted.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Socket } from "bun";
import { createTopics } from "../../src/client/admin.ts";
import { KafkaConnection } from "../../src/client/connection.ts";
import { Producer } from "../../src/client/producer.ts";
import { API_SCHEMAS, ApiKey, writeRequestHeader } from "../../src/protocol/generated/index.ts";
import { Writer } from "../../src/protocol/writer.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { produceOneByOne, readPartition, showLatency } from "../helpers/load.ts";
import { waitFor } from "../helpers/wait.ts";
import { metricSamples } from "../replication/cluster-helpers.ts";

const BACKLOG = "backlog";
const LIVE = "live";
const BACKLOG_BYTES = 64 << 20;
const RECORD_BYTES = 1024;
const SLOW_CLIENTS = 8;
const MAX_QUEUED_RESPONSE_BYTES = 8 << 20;
const MAX_INFLIGHT_REQUESTS = 256;
/** More Fetch requests per slow client than the kernel's socket buffers hold, so its writes stall once the broker stops reading. */
const FETCH_BYTES_PER_CLIENT = 8 << 20;
const ACKS_PER_PHASE = 500;
const MIB = 2 ** 20;

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker({ args: ["--max-queued-response-bytes", String(MAX_QUEUED_RESPONSE_BYTES), "--max-inflight-requests", String(MAX_INFLIGHT_REQUESTS)] });
}, 60_000);

afterAll(async () => {
  await broker?.cleanup();
});

const metric = async (name: string, labels = "") => (await metricSamples(broker, name)).get(labels) ?? 0;
const fetchesHandled = () => metric("chronik_requests_total", '{api="Fetch"}');

/** Fetch v12 frames (with their size prefixes) for the whole backlog from spread offsets, as many as fit in `bytes`. */
function fetchFrames(bytes: number, backlogRecords: number): { bytes: Uint8Array; count: number } {
  const schema = API_SCHEMAS.get(ApiKey.Fetch)!;
  const frames: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; total < bytes; i++) {
    const writer = new Writer();
    writeRequestHeader(writer, schema.requestHeaderVersion(12), { requestApiKey: ApiKey.Fetch, requestApiVersion: 12, correlationId: i + 1, clientId: "slow-consumer" });
    schema.writeRequest(writer, 12, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 30,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic: BACKLOG, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: (i * 7919) % backlogRecords, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 30 }] }],
      forgottenTopicsData: [],
      rackId: "",
    } as never);
    const body = writer.toBytes();
    const frame = new Uint8Array(4 + body.length);
    new DataView(frame.buffer).setInt32(0, body.length);
    frame.set(body, 4);
    frames.push(frame);
    total += frame.length;
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const frame of frames) {
    all.set(frame, at);
    at += frame.length;
  }
  return { bytes: all, count: frames.length };
}

/** A client that writes Fetch requests as fast as the broker takes them and never reads an answer. */
async function slowConsumer(port: number) {
  let unsent = new Uint8Array(0);
  let closed = false;
  const push = () => {
    while (unsent.length > 0) {
      const written = socket.write(unsent);
      if (written <= 0) return;
      unsent = unsent.subarray(written);
    }
  };
  const socket: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: { open: (s) => s.pause(), data: () => {}, drain: push, close: () => void (closed = true) },
  });
  socket.pause();
  const send = (requests: Uint8Array) => {
    if (unsent.length > 0) throw new Error("send before the previous requests were taken");
    unsent = requests;
    push();
  };
  return { socket, send, unsentBytes: () => unsent.length, closed: () => closed };
}

test("slow consumers stop being read at their bound, memory stays bounded and a producer on another partition keeps going", async () => {
  const admin = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.kafkaPort });
  await admin.negotiateVersions();
  await createTopics(admin, [{ name: BACKLOG, partitions: 1 }, { name: LIVE, partitions: 1 }]);
  const filler = await Producer.create(admin, { acks: 1, batchBytes: 256 * 1024, lingerMs: 5 });
  const record = new Uint8Array(RECORD_BYTES).fill(0x61);
  const backlogRecords = BACKLOG_BYTES / RECORD_BYTES;
  for (let i = 0; i < backlogRecords; i++) {
    if (filler.bufferedBytes > 16 * MIB) await filler.waitForSpace();
    filler.append(BACKLOG, 0, record);
  }
  await filler.flush();

  const producer = await Producer.create(admin, { acks: -1 });
  const acked = new Set<string>();
  const alone = await produceOneByOne(producer, LIVE, 0, "alone", ACKS_PER_PHASE, acked);
  const rssBeforeMiB = (await metric("process_resident_memory_bytes")) / MIB;
  const fetchesBefore = await fetchesHandled();

  const requests = fetchFrames(FETCH_BYTES_PER_CLIENT, backlogRecords);
  const firstFetch = fetchFrames(1, backlogRecords).bytes;
  const slow = await Promise.all(Array.from({ length: SLOW_CLIENTS }, () => slowConsumer(broker.kafkaPort)));
  const paced = slow.slice(0, SLOW_CLIENTS / 2);
  const pipelining = slow.slice(SLOW_CLIENTS / 2);
  // A paced client's first answer (the log from offset 0, up to fetch.max.bytes) outgrows the kernel's buffers
  // and the bound, so none of its later requests is taken.
  for (const [i, client] of paced.entries()) {
    // The clients before it read nothing, so what they left unread stays as it is.
    const queuedBefore = await metric("chronik_queued_response_bytes");
    client.send(firstFetch);
    await waitFor(async () => (await metric("chronik_queued_response_bytes")) > queuedBefore + MAX_QUEUED_RESPONSE_BYTES, `paced client ${i}'s first answer to pass the bound`);
    client.send(requests.bytes);
  }
  await waitFor(() => paced.every((c) => c.unsentBytes() > 0), "the paced clients' requests to back up in their sockets");
  const fetchesOfPaced = (await fetchesHandled()) - fetchesBefore;
  // A pipelining client's first read holds hundreds of requests: the in-flight bound stops it.
  for (const client of pipelining) client.send(requests.bytes);
  await waitFor(async () => (await metric("chronik_queued_response_bytes")) > SLOW_CLIENTS * MAX_QUEUED_RESPONSE_BYTES, "every slow consumer's unread answers to pass the bound");
  await waitFor(() => slow.every((c) => c.unsentBytes() > 0), "the slow consumers' requests to back up in their sockets");
  const fetchesStalled = (await fetchesHandled()) - fetchesBefore;
  let rssPeakMiB = 0;
  const sampler = setInterval(async () => (rssPeakMiB = Math.max(rssPeakMiB, (await metric("process_resident_memory_bytes")) / MIB)), 100);

  const withSlow = await produceOneByOne(producer, LIVE, 0, "with-slow", ACKS_PER_PHASE, acked);
  clearInterval(sampler);
  const queuedAfterMiB = (await metric("chronik_queued_response_bytes")) / MIB;
  const fetchesAfter = (await fetchesHandled()) - fetchesBefore;
  rssPeakMiB = Math.max(rssPeakMiB, (await metric("process_resident_memory_bytes")) / MIB);
  const stillStalled = slow.every((c) => !c.closed() && c.unsentBytes() > 0);

  for (const c of slow) c.socket.end();
  await waitFor(async () => (await metric("chronik_queued_response_bytes")) === 0, "answers of the departed slow consumers to be released");
  const after = await produceOneByOne(producer, LIVE, 0, "after", ACKS_PER_PHASE, acked);
  await producer.close();
  admin.close();

  console.log(
    [
      `slow consumers: ${SLOW_CLIENTS} clients, ${fetchesStalled} of their ${requests.count * SLOW_CLIENTS} Fetch requests taken, ` +
        `${queuedAfterMiB.toFixed(0)} MiB of answers unread (views of the log, not copies)`,
      `broker RSS ${rssBeforeMiB.toFixed(0)} MiB before, peak ${rssPeakMiB.toFixed(0)} MiB with the slow consumers`,
      showLatency("producer alone", alone),
      showLatency("producer with slow consumers", withSlow),
      showLatency("producer after they left", after),
    ].join("\n"),
  );

  // The broker stopped reading the slow connections: no further Fetch was taken while the producer ran, and no
  // connection started more than its in-flight bound.
  expect(stillStalled).toBe(true);
  expect(fetchesOfPaced).toBe(paced.length);
  expect(fetchesAfter).toBe(fetchesStalled);
  expect(fetchesStalled).toBeLessThanOrEqual(paced.length + pipelining.length * MAX_INFLIGHT_REQUESTS);
  // Answers are views of the mapped log: gigabytes of unread answers cost the broker no copies.
  expect(queuedAfterMiB).toBeGreaterThan(SLOW_CLIENTS * (MAX_QUEUED_RESPONSE_BYTES / MIB));
  expect(rssPeakMiB - rssBeforeMiB).toBeLessThan(256);
  // Every acknowledged record reads back.
  const values = await readPartition(broker.bootstrap, LIVE, 0);
  expect(values.length).toBe(acked.size);
  expect(new Set(values)).toEqual(acked);
}, 150_000);
