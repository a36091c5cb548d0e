import { describe, expect, test } from "bun:test";
import { API_SCHEMAS } from "../../src/protocol/generated/index.ts";
import * as generated from "../../src/protocol/generated/index.ts";
import { ProtocolError, Reader } from "../../src/protocol/reader.ts";
import { Writer } from "../../src/protocol/writer.ts";
import { loadSchemaSpecs, prng, schemasPresent, SKIP_REASON, ValueFactory } from "./schema-values.ts";

type ReadFn = (r: Reader, v: number) => unknown;
type WriteFn = (w: Writer, v: number, m: unknown) => void;

const codecs = generated as unknown as Record<string, ReadFn | WriteFn>;
const SEED = 20261124;
const SAMPLES_PER_VERSION = 4;

if (!schemasPresent) test.skip(`round trip (${SKIP_REASON})`, () => {});

describe.skipIf(!schemasPresent)("every message, every version, round trip", () => {
  for (const spec of loadSchemaSpecs()) {
    test(`${spec.name}`, () => {
      const read = codecs[`read${spec.name}`] as ReadFn;
      const write = codecs[`write${spec.name}`] as WriteFn;
      expect(typeof read).toBe("function");
      expect(typeof write).toBe("function");
      const random = prng(SEED ^ spec.name.length * 7919);
      const factory = new ValueFactory(spec, random);
      for (const v of factory.versions()) {
        for (let sample = 0; sample < SAMPLES_PER_VERSION; sample++) {
          const { input, expected } = factory.message(v);
          const w = new Writer(32);
          write(w, v, input);
          const bytes = w.toBytes();
          const r = new Reader(bytes);
          const decoded = read(r, v);
          if (r.remaining() !== 0) throw new Error(`${spec.name} v${v}: ${r.remaining()} bytes left after decode`);
          try {
            expect(decoded).toEqual(expected);
          } catch (error) {
            throw new Error(`${spec.name} v${v} sample ${sample} (seed ${SEED}): ${(error as Error).message}`);
          }
          // Re-encoding the decoded form gives the same bytes.
          const again = new Writer();
          write(again, v, decoded);
          expect(again.toBytes()).toEqual(bytes);
          if (sample === 0) {
            for (let cut = 0; cut < bytes.byteLength; cut++) {
              expect(() => read(new Reader(bytes, 0, cut), v)).toThrow(ProtocolError);
            }
          }
        }
      }
    });
  }
});

describe.skipIf(!schemasPresent)("API table", () => {
  test("every request/response pair is registered with its versions", () => {
    const requests = loadSchemaSpecs().filter((s) => s.type === "request");
    expect(API_SCHEMAS.size).toBe(requests.length);
    for (const spec of requests) {
      const schema = API_SCHEMAS.get(spec.apiKey!)!;
      expect(schema.name + "Request").toBe(spec.name);
      expect(`${schema.minVersion}-${schema.maxVersion}`).toBe(
        spec.validVersions.includes("-") ? spec.validVersions : `${spec.validVersions}-${spec.validVersions}`,
      );
    }
  });
});
