import { API_SCHEMAS, ApiKey, readRequestHeader, writeRequestHeader } from "../../../src/protocol/generated/index.ts";
import { Reader } from "../../../src/protocol/reader.ts";
import { Writer } from "../../../src/protocol/writer.ts";
import { corruptProduceCase, type BatchCheck } from "./corrupt-batches.ts";
import { Prng } from "./prng.ts";
import { decodeBody, templateFor } from "./templates.ts";
import { clampWaits, mutateValue, randomInt, waitsClamped } from "./values.ts";

/** What the broker advertises in ApiVersions: api key -> [min, max]. */
export type Advertised = ReadonlyMap<number, readonly [number, number]>;

export interface FuzzCase {
  readonly index: number;
  readonly kind: string;
  /** The whole frame as sent, size prefix included (except for frame-size lies, where it is the lie). */
  readonly frame: Uint8Array;
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  /** "response": well-formed for the broker, so it must answer; "either": answer or close; "close": must close. */
  readonly expect: "response" | "either" | "close";
  readonly batchCheck?: BatchCheck;
  /** Decodes into a legal wait longer than the fuzz deadline (a damaged maxWaitMs): no answer in time is fine. */
  readonly longWait?: boolean;
}

const ALL_API_KEYS = [...API_SCHEMAS.keys()];

export function framed(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(4 + payload.length);
  new DataView(frame.buffer).setInt32(0, payload.length);
  frame.set(payload, 4);
  return frame;
}

export function encodeRequest(apiKey: number, apiVersion: number, correlationId: number, body: unknown): Uint8Array {
  const schema = API_SCHEMAS.get(apiKey)!;
  const writer = new Writer();
  writeRequestHeader(writer, schema.requestHeaderVersion(apiVersion), { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId: "fuzz" });
  schema.writeRequest(writer, apiVersion, body as never);
  return writer.toBytes();
}

/** Whether the broker will decode this payload (same generated reader, same header rules). */
function wellFormed(payload: Uint8Array, advertised: Advertised): { ok: boolean; body?: unknown } {
  if (payload.length < 8) return { ok: false };
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const apiKey = view.getInt16(0);
  const apiVersion = view.getInt16(2);
  const range = advertised.get(apiKey);
  const schema = API_SCHEMAS.get(apiKey);
  if (!range || !schema) return { ok: false };
  if (apiVersion < range[0] || apiVersion > range[1]) return { ok: apiKey === ApiKey.ApiVersions };
  try {
    const reader = new Reader(payload);
    readRequestHeader(reader, schema.requestHeaderVersion(apiVersion));
    return { ok: true, body: decodeBody(schema, apiVersion, payload.subarray(reader.pos)) };
  } catch {
    return { ok: false };
  }
}

function writeUvarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** Byte-level damage: bit flips, lying lengths and counts, bad varints, tagged fields, truncation, junk. */
function mutateBytes(rng: Prng, payload: Uint8Array, flexible: boolean): { bytes: Uint8Array; how: string } {
  let bytes: Uint8Array = payload.slice();
  const mutations = rng.range(1, 3);
  const hows: string[] = [];
  for (let m = 0; m < mutations && bytes.length > 8; m++) {
    // The first 8 bytes (api key, version, correlation id) stay, so a damaged body is still attributable.
    const at = rng.range(8, bytes.length - 1);
    const roll = rng.int(8);
    if (roll === 0) {
      for (let i = rng.range(1, 4); i > 0; i--) bytes[rng.range(8, bytes.length - 1)]! ^= 1 << rng.int(8);
      hows.push("bitflip");
    } else if (roll === 1 && at + 4 <= bytes.length) {
      new DataView(bytes.buffer, bytes.byteOffset).setInt32(at, rng.pick([-1, -2, 0, 1, 0x7fffffff, -0x80000000, bytes.length, bytes.length - at, randomInt(rng)]));
      hows.push("int32");
    } else if (roll === 2 && at + 2 <= bytes.length) {
      new DataView(bytes.buffer, bytes.byteOffset).setInt16(at, rng.pick([-1, -2, 0, 0x7fff, -0x8000, bytes.length - at]));
      hows.push("int16");
    } else if (roll === 3) {
      const varint: number[] = [];
      if (rng.chance(0.3)) varint.push(...new Array(rng.range(5, 12)).fill(0xff));
      else writeUvarint(varint, rng.pick([0, 1, 2, 0x7f, 0x80, 0x3fff, 0x7fffffff, 0xffffffff, bytes.length - at, rng.nextUint32()]));
      bytes = concat(bytes.subarray(0, at), Uint8Array.from(varint), bytes.subarray(at + (rng.chance(0.5) ? 1 : 0)));
      hows.push("varint");
    } else if (roll === 4 && flexible) {
      // A tagged-field section at the end, where the top-level one lives.
      const section: number[] = [];
      const count = rng.range(0, 4);
      writeUvarint(section, rng.chance(0.8) ? count : rng.nextUint32());
      for (let i = 0; i < count; i++) {
        writeUvarint(section, rng.pick([0, 1, 2, 3, 100, 0x7fffffff, rng.nextUint32()]));
        const size = rng.range(0, 8);
        writeUvarint(section, rng.chance(0.8) ? size : rng.pick([size + 1, 0xffffffff, 0x7fffffff]));
        section.push(...rng.bytes(size));
      }
      bytes = concat(bytes.subarray(0, bytes.length - 1), Uint8Array.from(section));
      hows.push("tagged");
    } else if (roll === 5) {
      bytes = bytes.slice(0, at);
      hows.push("truncate");
    } else if (roll === 6) {
      bytes = concat(bytes.subarray(0, at), rng.bytes(rng.range(1, 16)), bytes.subarray(at));
      hows.push("insert");
    } else {
      bytes[at] = rng.pick([0x00, 0xff, 0x80, 0x7f]);
      hows.push("byte");
    }
  }
  return { bytes, how: hows.join("+") };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const part of parts) {
    out.set(part, pos);
    pos += part.length;
  }
  return out;
}

function pickApi(rng: Prng, advertised: Advertised): { apiKey: number; apiVersion: number } {
  const keys = [...advertised.keys()];
  if (rng.chance(0.9)) {
    const apiKey = rng.pick(keys);
    const [min, max] = advertised.get(apiKey)!;
    return { apiKey, apiVersion: rng.range(min, max) };
  }
  // Unadvertised: an API the broker does not serve, or a version outside what it advertises.
  const apiKey = rng.pick(ALL_API_KEYS);
  const schema = API_SCHEMAS.get(apiKey)!;
  return { apiKey, apiVersion: rng.range(schema.minVersion, schema.maxVersion) };
}

/** Case `index` of the run with `seed`: the same pair always yields the same bytes. */
export function generateCase(seed: number, index: number, advertised: Advertised, maxFrameBytes: number): FuzzCase {
  const rng = Prng.forCase(seed, index);
  const correlationId = index & 0x7fffffff;
  const roll = rng.int(1000);

  if (roll < 10) {
    const lie = rng.pick([0, -1, -0x80000000, maxFrameBytes + 1, 0x7fffffff]);
    const frame = new Uint8Array(4 + 16);
    new DataView(frame.buffer).setInt32(0, lie);
    return { index, kind: `frame-size ${lie}`, frame, apiKey: -1, apiVersion: -1, correlationId, expect: "close" };
  }
  if (roll < 40) {
    const payload = rng.bytes(rng.range(0, 64));
    return classify(index, "random-bytes", payload, advertised);
  }
  if (roll < 100 && advertised.has(ApiKey.Produce)) {
    const [min, max] = advertised.get(ApiKey.Produce)!;
    if (max >= 3) {
      const apiVersion = rng.range(Math.max(3, min), max);
      const { body, check, how } = corruptProduceCase(rng);
      const payload = encodeRequest(ApiKey.Produce, apiVersion, correlationId, body);
      // Crafted, not mutated: well-formed by construction, and its acks=-1 wait is part of the case.
      return { index, kind: `batch ${how}`, frame: framed(payload), apiKey: ApiKey.Produce, apiVersion, correlationId, expect: "response", batchCheck: check };
    }
  }

  const { apiKey, apiVersion } = pickApi(rng, advertised);
  const schema = API_SCHEMAS.get(apiKey)!;
  const template = templateFor(apiKey, apiVersion);
  let payload: Uint8Array | null = null;
  for (let attempt = 0; attempt < 4 && payload === null; attempt++) {
    try {
      payload = encodeRequest(apiKey, apiVersion, correlationId, mutateValue(rng, template, rng.pick([0.05, 0.2, 0.5])));
    } catch {
      // A mutation the writer refuses (null for a non-nullable field): draw again.
    }
  }
  payload ??= encodeRequest(apiKey, apiVersion, correlationId, template);
  let kind = `${schema.name} v${apiVersion}`;
  if (rng.chance(0.35)) {
    const mutated = mutateBytes(rng, payload, apiVersion >= schema.flexibleMinVersion && schema.flexibleMinVersion >= 0);
    payload = mutated.bytes;
    kind += ` bytes:${mutated.how}`;
  } else kind += " values";
  if (rng.chance(0.02)) {
    const view = new DataView(payload.buffer, payload.byteOffset);
    const header = rng.int(2);
    if (header === 0) view.setInt16(0, rng.pick([-1, 88, 1000, 0x7fff, rng.range(0, 90)]));
    else view.setInt16(2, rng.pick([-1, 0x7fff, rng.range(0, 30)]));
    kind += " header";
  }
  return classify(index, kind, payload, advertised);
}

function classify(index: number, kind: string, original: Uint8Array, advertised: Advertised): FuzzCase {
  let payload = original;

  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const apiKey = payload.length >= 2 ? view.getInt16(0) : -1;
  const apiVersion = payload.length >= 4 ? view.getInt16(2) : -1;
  const correlationId = payload.length >= 8 ? view.getInt32(4) : -1;
  const decoded = wellFormed(payload, advertised);
  // A damaged frame can decode into a legal long wait (a Fetch maxWaitMs of days) or into acks=0, which has
  // no answer; such a frame is re-encoded from its decoded fields with the wait clamped and acks=1.
  const silent = apiKey === ApiKey.Produce && decoded.ok && (decoded.body as { acks?: number } | undefined)?.acks === 0;
  if (decoded.ok && decoded.body !== undefined && (silent || !waitsClamped(decoded.body))) {
    const body = clampWaits(decoded.body) as Record<string, unknown>;
    if (silent) body.acks = 1;
    try {
      payload = encodeRequest(apiKey, apiVersion, correlationId, body);
      kind += " re-encoded";
    } catch {
      return { index, kind, frame: framed(payload), apiKey, apiVersion, correlationId, expect: "either", longWait: true };
    }
  }
  return { index, kind, frame: framed(payload), apiKey, apiVersion, correlationId, expect: decoded.ok ? "response" : "either" };
}
