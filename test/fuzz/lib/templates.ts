import { API_SCHEMAS, type ApiSchema } from "../../../src/protocol/generated/index.ts";
import { Reader } from "../../../src/protocol/reader.ts";
import { Writer } from "../../../src/protocol/writer.ts";

/**
 * Fully populated example requests, discovered from the generated codecs alone (no JSON schemas needed):
 * encode `{}` (every field at its default), decode it back, put one element into each empty array and
 * repeat until no array is empty. The decoded values then tell each leaf's type (number, string, bytes…).
 */
export type Template = Record<string, unknown>;

const ELEMENT_CANDIDATES: readonly (() => unknown)[] = [() => ({}), () => 0, () => "fuzz-a", () => "AAAAAAAAAAAAAAAAAAAAAA", () => false];
const MAX_DISCOVERY_ROUNDS = 10;

export function encodeBody(schema: ApiSchema, version: number, body: unknown): Uint8Array {
  const writer = new Writer();
  schema.writeRequest(writer, version, body);
  return writer.toBytes();
}

export function decodeBody(schema: ApiSchema, version: number, bytes: Uint8Array): Template {
  return schema.readRequest(new Reader(bytes), version) as Template;
}

function roundTrip(schema: ApiSchema, version: number, body: unknown): Template {
  return decodeBody(schema, version, encodeBody(schema, version, body));
}

/** Every empty array in the tree, as [parent, key] pairs. */
function emptyArrays(node: unknown, out: [Record<string, unknown>, string][] = []): [Record<string, unknown>, string][] {
  if (node === null || typeof node !== "object" || node instanceof Uint8Array) return out;
  for (const [key, value] of Object.entries(node)) {
    if (Array.isArray(value)) {
      if (value.length === 0) out.push([node as Record<string, unknown>, key]);
      else for (const item of value) emptyArrays(item, out);
    } else emptyArrays(value, out);
  }
  return out;
}

export function discoverTemplate(schema: ApiSchema, version: number): Template {
  let body = roundTrip(schema, version, {});
  const impossible = new Set<string>();
  for (let round = 0; round < MAX_DISCOVERY_ROUNDS; round++) {
    const holes = emptyArrays(body).filter(([parent, key]) => !impossible.has(key + ":" + Object.keys(parent).join(",")));
    if (holes.length === 0) break;
    for (const [parent, key] of holes) {
      let filled = false;
      for (const candidate of ELEMENT_CANDIDATES) {
        parent[key] = [candidate()];
        try {
          body = roundTrip(schema, version, body);
          filled = true;
          break;
        } catch {
          parent[key] = [];
        }
      }
      if (!filled) impossible.add(key + ":" + Object.keys(parent).join(","));
      // The round trip replaced the tree, so the remaining holes point into the old one.
      if (filled) break;
    }
  }
  return body;
}

const cache = new Map<string, Template>();

export function templateFor(apiKey: number, version: number): Template {
  const id = `${apiKey}:${version}`;
  let template = cache.get(id);
  if (!template) {
    template = discoverTemplate(API_SCHEMAS.get(apiKey)!, version);
    cache.set(id, template);
  }
  return template;
}
