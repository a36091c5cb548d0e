import { expect, test } from "bun:test";
import { pack } from "msgpackr";
import { decodeEnvelope, ENVELOPE_VERSION, encodeEnvelope } from "../../src/raft/envelope.ts";
import { LogFormatError } from "../../src/raft/types.ts";

test("an entry's data round-trips with its format version written last", () => {
  const data = encodeEnvelope("1:ab", [[7, "command"], [8, { nested: [1, 2] }]]);
  expect(decodeEnvelope(data, 5)).toEqual({ proposer: "1:ab", proposals: [[7, "command"], [8, { nested: [1, 2] }]] });
  expect(ENVELOPE_VERSION).toBe(1);
});

test("the first layout, two fields and no version, reads as version 1", () => {
  // As RaftNode wrote entries before they carried a version: [proposer, [sequence, command][]].
  const data = pack(["1:4fb28a91", [[8, ["incarnation", 8, [{ type: "delete-topic", name: "t2" }]]]]]);
  expect(decodeEnvelope(data, 9)).toEqual({ proposer: "1:4fb28a91", proposals: [[8, ["incarnation", 8, [{ type: "delete-topic", name: "t2" }]]]] });
});

test("an entry of a newer format version fails with an error naming its index and version", () => {
  const data = pack(["1:ab", [[1, "x"]], ENVELOPE_VERSION + 1]);
  expect(() => decodeEnvelope(data, 42)).toThrow(LogFormatError);
  expect(() => decodeEnvelope(data, 42)).toThrow(`raft log entry 42 has format version ${ENVELOPE_VERSION + 1}, newer than this build reads (1 to ${ENVELOPE_VERSION})`);
});

test("undecodable entries fail with an error naming their index, not a TypeError", () => {
  // One proposal per entry, [proposer, sequence, command], as written before proposals were batched.
  const unbatched = pack(["1:ab", 3, ["incarnation", 3, [{ type: "init-cluster", clusterId: "c" }]]]);
  expect(() => decodeEnvelope(unbatched, 7)).toThrow(/^raft log entry 7 cannot be decoded: it carries no format version/);
  expect(() => decodeEnvelope(pack(["1:ab", 3, 1]), 8)).toThrow("raft log entry 8 cannot be decoded as format version 1");
  expect(() => decodeEnvelope(pack(["1:ab", [["not a sequence", 1]], 1]), 9)).toThrow("raft log entry 9 cannot be decoded as format version 1");
  expect(() => decodeEnvelope(pack(12), 10)).toThrow("raft log entry 10 cannot be decoded: it is not a proposals envelope");
  expect(() => decodeEnvelope(new Uint8Array([0xc1]), 11)).toThrow(/^raft log entry 11 cannot be decoded/);
});
