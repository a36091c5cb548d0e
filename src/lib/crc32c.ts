/**
 * CRC-32C (Castagnoli), as Kafka's v2 record batches use.
 * The fast path is @node-rs/crc32: prebuilt SSE4.2/ARMv8 code from npm, so no user needs a C compiler, at
 * ~4-6 GB/s. Where its prebuilt binary is missing we fall back to pure TypeScript slicing-by-8 (~1 GB/s).
 */
import { createRequire } from "node:module";

type NativeCrc = (input: Uint8Array, initialState?: number) => number;

const TABLES = buildTables();

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const first = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    first[n] = c >>> 0;
  }
  tables.push(first);
  for (let t = 1; t < 8; t++) {
    const table = new Uint32Array(256);
    const previous = tables[t - 1]!;
    for (let n = 0; n < 256; n++) table[n] = (first[previous[n]! & 0xff]! ^ (previous[n]! >>> 8)) >>> 0;
    tables.push(table);
  }
  return tables;
}

/** Pure TypeScript slicing-by-8; exported so tests can check it against the native path. */
export function crc32cPortable(data: Uint8Array, start = 0, end = data.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let crc = 0xffffffff;
  let i = start;
  while (i < end && (i & 7) !== 0) crc = t0[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
  while (end - i >= 8) {
    const lo = (crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    crc =
      t7[lo & 0xff]! ^ t6[(lo >>> 8) & 0xff]! ^ t5[(lo >>> 16) & 0xff]! ^ t4[lo >>> 24]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) crc = t0[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function loadNative(): NativeCrc | null {
  try {
    const mod = createRequire(import.meta.url)("@node-rs/crc32") as { crc32c: NativeCrc };
    const check = new TextEncoder().encode("123456789");
    return mod.crc32c(check) === 0xe3069283 ? mod.crc32c : null;
  } catch {
    return null;
  }
}

const native = loadNative();

/** True when the prebuilt native implementation is in use. */
export const crc32cIsNative = native !== null;

/** CRC-32C of data[start, end), unsigned. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  if (start < 0 || end > data.length || start > end) throw new RangeError(`crc32c range [${start}, ${end}) outside ${data.length}`);
  if (native === null) return crc32cPortable(data, start, end);
  const view = start === 0 && end === data.length ? data : data.subarray(start, end);
  return native(view) >>> 0;
}
