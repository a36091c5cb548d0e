import { expect, test } from "bun:test";
import { pack, unpack } from "msgpackr";
import {
  decodeMetadataEntry,
  decodeMetadataSnapshot,
  encodeMetadataEntry,
  METADATA_FORMAT_VERSION,
  metadataSnapshotSlices,
} from "../../src/metadata/log-format.ts";
import type { MetadataSnapshot } from "../../src/metadata/state.ts";
import { LogFormatError } from "../../src/raft/types.ts";

const commands = [{ type: "delete-topic", name: "t2" }, { type: "allocate-producer-ids", count: 1000 }];
const snapshot: MetadataSnapshot = {
  clusterId: "c",
  brokers: [{ nodeId: 1, host: "127.0.0.1", port: 9092, rack: null, replicationPort: 9192, fenced: false }],
  brokerEpochs: [[1, 3]],
  topics: [],
  nextProducerId: 1000,
};

const consumerGroupRecords = {
  type: "group-records",
  coordinatorId: 1,
  incarnation: "i",
  records: [{ type: "consumer-group", groupId: "g", group: null }],
};

const concatenated = (slices: Iterable<Uint8Array>) => new Uint8Array(Buffer.concat([...slices]));
const encodeMetadataSnapshot = (state: MetadataSnapshot, recordsPerSlice?: number) => concatenated(metadataSnapshotSlices(state, recordsPerSlice));

test("an entry round-trips through msgpack with its format version written last", () => {
  const fields = unpack(pack(encodeMetadataEntry({ incarnation: "abc", sequence: 9, commands })));
  expect(fields).toEqual(["abc", 9, commands, 2]);
  expect(decodeMetadataEntry(fields, 10)).toEqual({ incarnation: "abc", sequence: 9, commands });
});

test("only an entry with a consumer-group record is written at version 3, which builds reading up to 2 refuse", () => {
  const offsets = { ...consumerGroupRecords, records: [{ type: "group-deleted", groupId: "g" }] };
  expect(encodeMetadataEntry({ incarnation: "abc", sequence: 9, commands: [offsets] }).at(-1)).toBe(2);
  const fields = unpack(pack(encodeMetadataEntry({ incarnation: "abc", sequence: 9, commands: [...commands, consumerGroupRecords] })));
  expect(METADATA_FORMAT_VERSION).toBe(3);
  expect((fields as unknown[]).at(-1)).toBe(3);
  expect(decodeMetadataEntry(fields, 10).commands).toEqual([...commands, consumerGroupRecords]);
});

test("an entry of the first layout, [incarnation, sequence, commands], reads as version 1", () => {
  expect(decodeMetadataEntry(["abc", 9, commands], 10)).toEqual({ incarnation: "abc", sequence: 9, commands });
});

test("an entry of a newer version, or one that is not a proposal, fails naming its index", () => {
  const newer = METADATA_FORMAT_VERSION + 1;
  expect(() => decodeMetadataEntry(["abc", 9, commands, newer], 12)).toThrow(LogFormatError);
  expect(() => decodeMetadataEntry(["abc", 9, commands, newer], 12)).toThrow(`metadata log entry 12 has format version ${newer}, newer than this build reads (1 to ${METADATA_FORMAT_VERSION})`);
  expect(() => decodeMetadataEntry("a string", 13)).toThrow("metadata log entry 13 cannot be decoded: it is not a metadata proposal");
  expect(() => decodeMetadataEntry(["abc", "9", commands], 14)).toThrow("metadata log entry 14 cannot be decoded as format version 1");
  expect(() => decodeMetadataEntry(["abc", 9, commands, "v1"], 15)).toThrow(/^metadata log entry 15 cannot be decoded: it carries no format version/);
});

test("a snapshot round-trips; one without a version (the first layout) reads as version 1", () => {
  expect(unpack(encodeMetadataSnapshot(snapshot))).toEqual({ ...snapshot, version: 2 });
  const withConsumerGroup = { ...snapshot, groupRecords: consumerGroupRecords.records as MetadataSnapshot["groupRecords"] };
  expect(unpack(encodeMetadataSnapshot(withConsumerGroup))).toEqual({ ...withConsumerGroup, version: 3 });
  expect(decodeMetadataSnapshot(encodeMetadataSnapshot(snapshot), 8)).toEqual(snapshot);
  expect(decodeMetadataSnapshot(pack(snapshot), 8)).toEqual(snapshot);
});

test("a snapshot of a newer version, or an undecodable one, fails naming its index", () => {
  const newer = METADATA_FORMAT_VERSION + 1;
  expect(() => decodeMetadataSnapshot(pack({ ...snapshot, version: newer }), 8)).toThrow(`metadata snapshot at index 8 has format version ${newer}, newer than this build reads (1 to ${METADATA_FORMAT_VERSION})`);
  expect(() => decodeMetadataSnapshot(pack({ ...snapshot, topics: 5 }), 8)).toThrow("metadata snapshot at index 8 cannot be decoded as format version 1");
  expect(() => decodeMetadataSnapshot(pack([1, 2]), 8)).toThrow("metadata snapshot at index 8 cannot be decoded as format version 1");
  expect(() => decodeMetadataSnapshot(new Uint8Array([0xc1]), 8)).toThrow(/^metadata snapshot at index 8 cannot be decoded/);
});

test("a snapshot encoded in slices is byte for byte msgpackr's packing of it at once", () => {
  const topic = (i: number) => ({
    name: `topic-${i}`,
    topicId: `id${String(i).padStart(20, "0")}`,
    partitions: [{ partition: 0, replicas: [1, 2], isr: [1, 2], leader: 1 + (i % 2), leaderEpoch: i % 5, partitionEpoch: 0 }],
    configs: i % 7 === 0 ? { "retention.ms": "1000" } : {},
  });
  const offset = (i: number) => ({ type: "offset", groupId: `g${i % 40}`, topic: `topic-${i}`, partition: 0, offset: i, leaderEpoch: 0, metadata: null, commitTimestamp: i });
  const cases: MetadataSnapshot[] = [
    snapshot,
    { ...snapshot, topics: Array.from({ length: 15 }, (_, i) => topic(i)) },
    { ...snapshot, topics: Array.from({ length: 5000 }, (_, i) => topic(i)), groupRecords: Array.from({ length: 3001 }, (_, i) => offset(i)) as MetadataSnapshot["groupRecords"] },
    { ...snapshot, topics: Array.from({ length: 70_000 }, (_, i) => topic(i)) },
  ];
  for (const state of cases) {
    const whole = pack({ ...state, version: 2 });
    for (const perSlice of [1, 16, 1000, 2048]) {
      if (perSlice === 1 && state.topics.length > 5000) continue;
      expect(encodeMetadataSnapshot(state, perSlice)).toEqual(new Uint8Array(whole));
    }
    expect(decodeMetadataSnapshot(encodeMetadataSnapshot(state), 8)).toEqual(state);
  }
});
