/**
 * How the metadata log lays out its entries and snapshots, with their format version. An entry's command is
 * [proposer incarnation, proposal sequence, commands, version]; a snapshot is the state's MetadataSnapshot with a
 * `version` field. The version comes last, or as an extra field, so that a reader of the first layout, which has
 * none, reads these too; an entry of three fields or a snapshot without `version` is that layout, version 1.
 * Bump METADATA_FORMAT_VERSION when a layout or a record's meaning changes, and keep reading the older versions a
 * stored log or snapshot may hold. Each entry and snapshot is written at the lowest version that reads it whole, so
 * an older build stops at what it cannot read, and only there: a cluster that never uses a newer record stays
 * readable by the builds before it.
 */
import { pack, unpack } from "msgpackr";
import { checkFormatVersion, LogFormatError } from "../raft/types.ts";
import type { MetadataSnapshot } from "./state.ts";

/**
 * 2: the "group-records" command, and snapshots with `groupRecords`; a build that reads only 1 must not apply them.
 * 3: "consumer-group" records among them (consumer-protocol groups); a build that reads only 2 refuses the record.
 */
export const METADATA_FORMAT_VERSION = 3;
const FIRST_GROUP_RECORDS_VERSION = 2;

/** One proposal's commands; each is checked when it applies (MetadataState.apply), so they stay unknown here. */
export interface MetadataEntry {
  /** With `sequence`, lets the proposer pick up its commands' outcomes. */
  incarnation: string;
  sequence: number;
  commands: unknown[];
}

/** What the metadata log proposes to Raft for one proposal. */
export function encodeMetadataEntry(entry: MetadataEntry): unknown[] {
  const groupRecords = entry.commands.flatMap((command) => (isGroupRecordsCommand(command) ? command.records : []));
  return [entry.incarnation, entry.sequence, entry.commands, versionFor(groupRecords)];
}

function isGroupRecordsCommand(command: unknown): command is { type: "group-records"; records: readonly { type: string }[] } {
  return typeof command === "object" && command !== null && (command as { type?: unknown }).type === "group-records" && Array.isArray((command as { records?: unknown }).records);
}

/** The lowest version that reads these group records, and the rest of an entry or snapshot around them. */
function versionFor(groupRecords: readonly { type: string }[]): number {
  return groupRecords.some((record) => record.type === "consumer-group") ? METADATA_FORMAT_VERSION : FIRST_GROUP_RECORDS_VERSION;
}

/** Reads a proposal from the log entry at `index`; throws LogFormatError, naming the index and version, when it cannot. */
export function decodeMetadataEntry(fields: unknown, index: number): MetadataEntry {
  if (!Array.isArray(fields) || fields.length < 3) throw new LogFormatError(`metadata log entry ${index} cannot be decoded: it is not a metadata proposal`);
  const version = checkFormatVersion(fields.length === 3 ? undefined : fields.at(-1), METADATA_FORMAT_VERSION, `metadata log entry ${index}`);
  const [incarnation, sequence, commands] = fields as unknown[];
  if (fields.length > 4 || typeof incarnation !== "string" || !Number.isSafeInteger(sequence) || !Array.isArray(commands)) {
    throw new LogFormatError(`metadata log entry ${index} cannot be decoded as format version ${version}`);
  }
  return { incarnation, sequence: sequence as number, commands };
}

/**
 * A snapshot's bytes, the state with its `version` as one msgpack map, in slices of at most `recordsPerSlice` topics
 * or group records each: their concatenation is byte for byte msgpackr's packing of the whole map. A caller encodes
 * a large state a slice at a time, between other work, instead of in one long stall. A msgpack array is a count and
 * then its elements one after another, so each long array is written as its header and then each slice's elements.
 */
export function* metadataSnapshotSlices(snapshot: MetadataSnapshot, recordsPerSlice = 2048): Generator<Uint8Array> {
  const fields: Record<string, unknown> = { ...snapshot, version: versionFor(snapshot.groupRecords ?? []) };
  const keys = Object.keys(fields);
  yield mapHeader(keys.length);
  for (const key of keys) {
    yield pack(key) as Uint8Array;
    const value = fields[key];
    if (!Array.isArray(value) || value.length <= recordsPerSlice) {
      yield pack(value) as Uint8Array;
      continue;
    }
    yield arrayHeader(value.length);
    for (let start = 0; start < value.length; start += recordsPerSlice) {
      const slice = pack(value.slice(start, start + recordsPerSlice)) as Uint8Array;
      yield slice.subarray(arrayHeader(Math.min(recordsPerSlice, value.length - start)).byteLength);
    }
  }
}

/** msgpack's header of an array of `count` elements: a fixarray under 16, then 16- and 32-bit counts. */
function arrayHeader(count: number): Uint8Array {
  if (count < 16) return Uint8Array.of(0x90 | count);
  return countHeader(count, 0xdc, 0xdd);
}

/** msgpack's header of a map of `count` entries as msgpackr writes an object's: a 16-bit count even when small. */
function mapHeader(count: number): Uint8Array {
  return countHeader(count, 0xde, 0xdf);
}

function countHeader(count: number, bits16: number, bits32: number): Uint8Array {
  if (count < 0x10000) return Uint8Array.of(bits16, count >>> 8, count & 0xff);
  return Uint8Array.of(bits32, count >>> 24, (count >>> 16) & 0xff, (count >>> 8) & 0xff, count & 0xff);
}

/** Reads the metadata snapshot taken at log index `index`; throws LogFormatError when it cannot. */
export function decodeMetadataSnapshot(data: Uint8Array, index: number): MetadataSnapshot {
  const what = `metadata snapshot at index ${index}`;
  let decoded: unknown;
  try {
    decoded = unpack(data);
  } catch (error) {
    throw new LogFormatError(`${what} cannot be decoded: ${String(error)}`);
  }
  if (typeof decoded !== "object" || decoded === null) throw new LogFormatError(`${what} cannot be decoded: it is not a snapshot`);
  const { version: storedVersion, ...snapshot } = decoded as MetadataSnapshot & { version?: unknown };
  const version = checkFormatVersion(storedVersion, METADATA_FORMAT_VERSION, what);
  const valid =
    (snapshot.clusterId === null || typeof snapshot.clusterId === "string") &&
    Array.isArray(snapshot.brokers) &&
    Array.isArray(snapshot.brokerEpochs) &&
    Array.isArray(snapshot.topics) &&
    Number.isSafeInteger(snapshot.nextProducerId) &&
    (snapshot.groupRecords === undefined || Array.isArray(snapshot.groupRecords));
  if (!valid) throw new LogFormatError(`${what} cannot be decoded as format version ${version}`);
  return snapshot;
}
