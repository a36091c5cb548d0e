/**
 * A Fetch long poll parks only where it can be woken. Found by the protocol fuzzer: a Fetch naming a topic but no
 * partitions (or arriving over the parked-fetch bound) was handed an already resolved wait, so its loop re-read
 * and re-waited in microtasks for its whole maxWaitMs, holding the event loop and allocating hundreds of MB.
 */
import { expect, test } from "bun:test";
import { fetchHandler } from "../../src/api/01-fetch.ts";
import type { RequestContext } from "../../src/api/handler.ts";
import type { FetchRequest, FetchResponse } from "../../src/protocol/generated/01-fetch.ts";
import { ZERO_UUID } from "../../src/protocol/reader.ts";
import { FetchWaiters } from "../../src/replication/fetch-waiters.ts";

const TOPIC = "quiet";
const MAX_WAIT_MS = 50;
const FETCH_MAX_BYTES = 4096;

/** FetchWaiters that counts the waits asked for. */
class CountingWaiters extends FetchWaiters {
  calls = 0;
  override wait(keys: readonly string[], timeoutMs: number): Promise<void> | null {
    this.calls++;
    return super.wait(keys, timeoutMs);
  }
}

/** A broker with one topic whose only partition is caught up (log end = high watermark = 0), or has `log`. */
function quietBroker(waiters: FetchWaiters, log: object = { logStartOffset: 0, logEndOffset: 0, highWatermark: 0 }): RequestContext {
  const replica = { topic: TOPIC, partition: 0, leaderEpoch: 0, log };
  const broker = {
    config: { fetchMaxBytes: FETCH_MAX_BYTES },
    metadata: { state: { topic: (name: string) => (name === TOPIC ? { name: TOPIC, topicId: ZERO_UUID } : undefined) } },
    replicas: { waiters, lookup: () => ({ ok: true, replica }) },
  };
  return { broker, apiVersion: 12, releaseAfterWrite: () => {} } as unknown as RequestContext;
}

function fetchRequest(partitions: number[], maxBytes = 1 << 20): FetchRequest {
  return {
    clusterId: null,
    replicaId: -1,
    replicaState: { replicaId: -1, replicaEpoch: -1 },
    maxWaitMs: MAX_WAIT_MS,
    minBytes: 1,
    maxBytes,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic: TOPIC,
        topicId: ZERO_UUID,
        partitions: partitions.map((partition) => ({
          partition,
          currentLeaderEpoch: -1,
          fetchOffset: 0,
          lastFetchedEpoch: -1,
          logStartOffset: -1,
          partitionMaxBytes: maxBytes,
          replicaDirectoryId: ZERO_UUID,
        })),
      },
    ],
    forgottenTopicsData: [],
    rackId: "",
  };
}

async function fetch(waiters: FetchWaiters, partitions: number[]): Promise<FetchResponse> {
  return (await fetchHandler.handle(fetchRequest(partitions), quietBroker(waiters))) as FetchResponse;
}

test("a Fetch naming no partitions is answered without waiting, as in Kafka", async () => {
  const waiters = new CountingWaiters(16);
  const response = await fetch(waiters, []);
  expect(response.responses).toEqual([]);
  expect(waiters.calls).toBe(1);
  expect(waiters.parkedCount).toBe(0);
});

test("a Fetch over the parked-fetch bound answers with what it has instead of retrying the wait", async () => {
  const waiters = new CountingWaiters(0);
  const response = await fetch(waiters, [0]);
  expect(response.responses[0]!.partitions[0]).toMatchObject({ partitionIndex: 0, errorCode: 0, highWatermark: 0, records: [] });
  expect(waiters.calls).toBe(1);
});

test("a Fetch on a caught-up partition parks until its wait ends", async () => {
  const waiters = new CountingWaiters(16);
  const pending = fetch(waiters, [0]);
  expect(waiters.parkedCount).toBe(1);
  const response = await pending;
  expect(response.responses[0]!.partitions[0]).toMatchObject({ partitionIndex: 0, errorCode: 0, records: [] });
  expect(waiters.parkedCount).toBe(0);
});

test("a Fetch reads at most the broker's fetch.max.bytes, whatever the request asks", async () => {
  const asked: number[] = [];
  const log = {
    logStartOffset: 0,
    logEndOffset: 10,
    highWatermark: 10,
    read(_offset: number, maxBytes: number) {
      asked.push(maxBytes);
      return { batches: [new Uint8Array(100)], bytes: 100, release() {} };
    },
  };
  const response = (await fetchHandler.handle(fetchRequest([0], 0x7fffffff), quietBroker(new FetchWaiters(16), log))) as FetchResponse;
  expect(response.responses[0]!.partitions[0]!.errorCode).toBe(0);
  expect(asked).toEqual([FETCH_MAX_BYTES]);
});

test("FetchWaiters parks only with keys, time left and room under its bound", async () => {
  const waiters = new FetchWaiters(1);
  expect(waiters.wait([], 1_000)).toBeNull();
  expect(waiters.wait(["t-0"], 0)).toBeNull();
  const parked = waiters.wait(["t-0", "t-1"], 60_000);
  expect(parked).not.toBeNull();
  expect(waiters.wait(["t-2"], 60_000)).toBeNull();
  waiters.wake("t-1");
  await parked;
  expect(waiters.parkedCount).toBe(0);
  expect(waiters.wait(["t-2"], 0)).toBeNull();
});
