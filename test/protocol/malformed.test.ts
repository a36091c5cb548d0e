/** Garbage and hostile frames: every decoder either decodes or throws ProtocolError, and never hangs. */
import { describe, expect, test } from "bun:test";
import * as generated from "../../src/protocol/generated/index.ts";
import {
  readApiVersionsRequest,
  readApiVersionsResponse,
  readMetadataRequest,
  readProduceRequest,
} from "../../src/protocol/generated/index.ts";
import { ProtocolError, Reader } from "../../src/protocol/reader.ts";
import { loadSchemaSpecs, prng, schemasPresent, SKIP_REASON } from "./schema-values.ts";

type ReadFn = (r: Reader, v: number) => unknown;
const codecs = generated as unknown as Record<string, ReadFn>;
const SEED = 77;
const FRAMES_PER_VERSION = 20;
const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

describe("hostile counts", () => {
  test("an array count of 2^31-1 in a 10-byte frame fails fast", () => {
    const frame = new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0]);
    const started = performance.now();
    expect(() => readMetadataRequest(new Reader(frame), 1)).toThrow(ProtocolError);
    // Produce v9 (flexible): a huge compact topic count after the null transactional id, acks and timeout.
    const flexible = new Uint8Array([0, 0, 1, 0, 0, 0x75, 0x30, 0xff, 0xff, 0xff, 0xff, 0x07]);
    expect(() => readProduceRequest(new Reader(flexible), 9)).toThrow(ProtocolError);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("a records length past the frame fails", () => {
    const frame = new Uint8Array([
      0, 1, 0, 0, 0x75, 0x30, 0, 0, 0, 1, 0, 1, 0x74, 0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2,
    ]);
    expect(() => readProduceRequest(new Reader(frame), 2)).toThrow(ProtocolError);
  });

  test("a tagged field whose size overruns the frame fails", () => {
    // ApiVersions v3 request body, then one unknown tagged field claiming 200 bytes.
    const body = [11, ...ascii("librdkafka"), 6, ...ascii("2.3.0"), 1, 7, 200, 1, 2];
    expect(() => readApiVersionsRequest(new Reader(new Uint8Array(body)), 3)).toThrow(/overruns|need/);
    expect(() => readApiVersionsRequest(new Reader(new Uint8Array(body)), 3)).toThrow(ProtocolError);
  });

  test("a known tagged field whose value does not fill its declared size fails", () => {
    // ApiVersions v3 response: tag 1 (FinalizedFeaturesEpoch, an int64) declared as 9 bytes.
    const body = [0, 0, 1, 0, 0, 0, 0, 1, 1, 9, 0, 0, 0, 0, 0, 0, 0, 5, 0];
    expect(() => readApiVersionsResponse(new Reader(new Uint8Array(body)), 3)).toThrow(ProtocolError);
  });
});

if (!schemasPresent) test.skip(`random garbage (${SKIP_REASON})`, () => {});

describe.skipIf(!schemasPresent)("random garbage", () => {
  test("every reader, every version: decodes or throws ProtocolError", () => {
    const random = prng(SEED);
    let decoded = 0;
    for (const spec of loadSchemaSpecs()) {
      const read = codecs[`read${spec.name}`]!;
      const [minText, maxText] = spec.validVersions.split("-");
      for (let v = Number(minText); v <= Number(maxText ?? minText); v++) {
        for (let i = 0; i < FRAMES_PER_VERSION; i++) {
          const frame = new Uint8Array(Math.floor(random() * 64));
          for (let b = 0; b < frame.length; b++) {
            // Mostly small bytes so counts and lengths are sometimes plausible.
            frame[b] = random() < 0.7 ? Math.floor(random() * 4) : Math.floor(random() * 256);
          }
          try {
            read(new Reader(frame), v);
            decoded++;
          } catch (error) {
            if (!(error instanceof ProtocolError)) {
              throw new Error(`${spec.name} v${v} threw ${String(error)} on [${[...frame]}]`);
            }
          }
        }
      }
    }
    expect(decoded).toBeGreaterThan(0);
  });
});
