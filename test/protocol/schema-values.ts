/**
 * Pseudo-random messages driven by the JSON schemas: for a message and version, an input for the writer
 * and the object the reader must give back (fields absent in that version come back as their defaults).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  camelCase,
  elementType,
  type FieldSpec,
  loadSpecs,
  MessageGenerator,
  type MessageSpec,
  parseRange,
} from "../../scripts/gen-protocol.ts";
import { uuidFromBytes, ZERO_UUID } from "../../src/protocol/reader.ts";

export const SCHEMA_DIR = join(import.meta.dir, "../../../shared/kafka-protocol/message");
export const schemasPresent = existsSync(SCHEMA_DIR);
export const SKIP_REASON = `Kafka message schemas not found at ${SCHEMA_DIR}`;

export function loadSchemaSpecs(): MessageSpec[] {
  return schemasPresent ? loadSpecs(SCHEMA_DIR) : [];
}

/** mulberry32: small, fast, and the seed replays a failure. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const inRange = (text: string | undefined, v: number): boolean => {
  const range = parseRange(text);
  return v >= range.min && v <= range.max;
};

export class ValueFactory {
  private readonly generator: MessageGenerator;

  constructor(
    readonly spec: MessageSpec,
    private readonly random: () => number,
  ) {
    this.generator = new MessageGenerator(spec);
  }

  private int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  private chance(p: number): boolean {
    return this.random() < p;
  }

  private bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }

  private string(): string {
    const alphabet = "abcdefghijklmnopqrstuvwxyz-._0123456789";
    const length = this.int(0, 12);
    let text = "";
    for (let i = 0; i < length; i++) text += alphabet[this.int(0, alphabet.length - 1)];
    if (this.chance(0.1)) text += "é✓𝄞";
    return text;
  }

  private fields(structName: string): FieldSpec[] {
    const info = this.generator.structs.get(structName);
    if (info === undefined) throw new Error(`no struct ${structName}`);
    return info.fields;
  }

  defaultOf(field: FieldSpec): unknown {
    const given = field.default;
    if (field.type.startsWith("[]")) return given === "null" ? null : [];
    switch (field.type) {
      case "int8": case "int16": case "uint16": case "int32": case "uint32": case "int64": case "float64":
        return given === undefined || given === "" ? 0 : Number(given);
      case "bool":
        return given === true || given === "true";
      case "string":
        return given === "null" ? null : (given ?? "");
      case "uuid":
        return ZERO_UUID;
      case "bytes":
        return given === "null" ? null : new Uint8Array(0);
      case "records":
        return null;
      default:
        return given === "null" ? null : this.defaultStruct(field.type);
    }
  }

  defaultStruct(structName: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const field of this.fields(structName)) out[camelCase(field.name)] = this.defaultOf(field);
    return out;
  }

  private primitive(type: string): { input: unknown; expected: unknown } {
    const same = (value: unknown) => ({ input: value, expected: value });
    switch (type) {
      case "int8": return same(this.int(-128, 127));
      case "int16": return same(this.int(-32768, 32767));
      case "uint16": return same(this.int(0, 65535));
      case "int32": return same(this.int(-2147483648, 2147483647));
      case "uint32": return same(this.int(0, 4294967295));
      case "int64": return same(this.chance(0.2) ? -1 : this.int(-(2 ** 53) + 1, 2 ** 53 - 1));
      case "float64": return same((this.random() - 0.5) * 1e12);
      case "bool": return same(this.chance(0.5));
      case "string": return same(this.string());
      case "uuid": return same(uuidFromBytes(this.bytes(16)));
      case "bytes": return same(this.bytes(this.int(0, 20)));
      case "records": {
        const length = this.chance(0.1) ? this.int(4096, 9000) : this.int(0, 64);
        const data = this.bytes(length);
        if (this.chance(0.3) && length > 2) {
          const cut = this.int(1, length - 1);
          return { input: [data.subarray(0, cut), data.subarray(cut)], expected: data };
        }
        return same(data);
      }
      default: throw new Error(`not a primitive: ${type}`);
    }
  }

  private value(field: FieldSpec, v: number, depth: number): { input: unknown; expected: unknown } {
    const nullable = inRange(field.nullableVersions, v) || field.type === "records";
    if (nullable && this.chance(0.15)) return { input: null, expected: null };
    if (field.type.startsWith("[]")) {
      const element = elementType(field.type);
      const count = depth > 3 ? 0 : this.int(0, 3);
      const input: unknown[] = [];
      const expected: unknown[] = [];
      for (let i = 0; i < count; i++) {
        const item = this.generator.structs.has(element) ? this.struct(element, v, depth + 1) : this.primitive(element);
        input.push(item.input);
        expected.push(item.expected);
      }
      return { input, expected };
    }
    if (this.generator.structs.has(field.type)) return this.struct(field.type, v, depth + 1);
    return this.primitive(field.type);
  }

  /** A random struct of `structName` for version `v`. */
  struct(structName: string, v: number, depth = 0): { input: Record<string, unknown>; expected: Record<string, unknown> } {
    const input: Record<string, unknown> = {};
    const expected: Record<string, unknown> = {};
    for (const field of this.fields(structName)) {
      const key = camelCase(field.name);
      const present = inRange(field.versions, v);
      if (this.chance(0.1)) {
        expected[key] = this.defaultOf(field);
        continue;
      }
      const value = this.value(field, v, depth);
      if (present) {
        input[key] = value.input;
        expected[key] = value.expected;
      } else if (value.input !== null) {
        // Absent in this version: the writer must leave it out and the reader fill the default.
        input[key] = value.input;
        expected[key] = this.defaultOf(field);
      } else {
        expected[key] = this.defaultOf(field);
      }
    }
    return { input, expected };
  }

  message(v: number): { input: Record<string, unknown>; expected: Record<string, unknown> } {
    return this.struct(this.spec.name, v);
  }

  versions(): number[] {
    const valid = parseRange(this.spec.validVersions);
    const out: number[] = [];
    for (let v = valid.min; v <= valid.max; v++) out.push(v);
    return out;
  }
}
