/** Byte sequences assembled by hand the way real clients send them, decoded by the generated codecs. */
import { describe, expect, test } from "bun:test";
import {
  API_SCHEMAS,
  ApiKey,
  readApiVersionsRequest,
  readApiVersionsResponse,
  readMetadataRequest,
  readRequestHeader,
  readResponseHeader,
  writeApiVersionsResponse,
  writeResponseHeader,
} from "../../src/protocol/generated/index.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { Reader, ZERO_UUID } from "../../src/protocol/reader.ts";
import { Writer } from "../../src/protocol/writer.ts";

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));
const int16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const int32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

describe("requests as clients send them", () => {
  test("ApiVersions v3 request from librdkafka (request header v2)", () => {
    const frame = new Uint8Array([
      ...int16(18), ...int16(3), ...int32(1), // api key, version, correlation id
      ...int16(7), ...ascii("rdkafka"), // client id: classic nullable string even in header v2
      0, // header tagged fields
      11, ...ascii("librdkafka"), // compact string: length + 1
      6, ...ascii("2.3.0"),
      0, // body tagged fields
    ]);
    const r = new Reader(frame);
    const schema = API_SCHEMAS.get(ApiKey.ApiVersions)!;
    const header = readRequestHeader(r, schema.requestHeaderVersion(3));
    expect(header).toEqual({ requestApiKey: 18, requestApiVersion: 3, correlationId: 1, clientId: "rdkafka" });
    expect(readApiVersionsRequest(r, 3)).toEqual({ clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.3.0" });
    expect(r.remaining()).toBe(0);
  });

  test("Metadata v1 request for one topic and for all topics", () => {
    const oneTopic = new Reader(new Uint8Array([...int32(1), ...int16(4), ...ascii("test")]));
    expect(readMetadataRequest(oneTopic, 1)).toEqual({
      topics: [{ topicId: ZERO_UUID, name: "test" }],
      allowAutoTopicCreation: true, // absent before v4: the schema default
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    const allTopics = new Reader(new Uint8Array(int32(-1)));
    expect(readMetadataRequest(allTopics, 1).topics).toBeNull();
  });

  test("Metadata v12 request (flexible) with header v2", () => {
    const frame = new Uint8Array([
      ...int16(3), ...int16(12), ...int32(0x01020304), ...int16(-1), 0, // null client id, no tags
      2, // one topic (compact count + 1)
      ...new Array(16).fill(0), 4, ...ascii("foo"), 0, // zero topic id, name, topic tags
      1, // allow auto topic creation
      0, // include topic authorized operations
      0, // body tags
    ]);
    const r = new Reader(frame);
    expect(API_SCHEMAS.get(ApiKey.Metadata)!.requestHeaderVersion(12)).toBe(2);
    expect(readRequestHeader(r, 2)).toEqual({ requestApiKey: 3, requestApiVersion: 12, correlationId: 0x01020304, clientId: null });
    expect(readMetadataRequest(r, 12)).toEqual({
      topics: [{ topicId: ZERO_UUID, name: "foo" }],
      allowAutoTopicCreation: true,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    expect(r.remaining()).toBe(0);
  });

  test("unknown tagged fields are skipped", () => {
    const frame = new Uint8Array([11, ...ascii("librdkafka"), 6, ...ascii("2.3.0"), 1, 99, 3, 1, 2, 3]);
    const r = new Reader(frame);
    expect(readApiVersionsRequest(r, 3).clientSoftwareName).toBe("librdkafka");
    expect(r.remaining()).toBe(0);
  });
});

describe("header versions", () => {
  test("request and response header versions follow Kafka's rules", () => {
    const produce = API_SCHEMAS.get(ApiKey.Produce)!;
    expect(produce.requestHeaderVersion(8)).toBe(1);
    expect(produce.requestHeaderVersion(9)).toBe(2);
    expect(produce.responseHeaderVersion(8)).toBe(0);
    expect(produce.responseHeaderVersion(9)).toBe(1);
    expect(produce.flexibleMinVersion).toBe(9);
    expect(API_SCHEMAS.get(ApiKey.ControlledShutdown)!.requestHeaderVersion(0)).toBe(0);
    expect(API_SCHEMAS.get(ApiKey.ControlledShutdown)!.requestHeaderVersion(1)).toBe(1);
    expect(API_SCHEMAS.get(ApiKey.ApiVersions)!.responseHeaderVersion(3)).toBe(0);
    expect(API_SCHEMAS.get(ApiKey.SaslHandshake)!.flexibleMinVersion).toBe(-1);
  });
});

describe("ApiVersions for an unsupported version", () => {
  test("a v0 response body is what any client can read", () => {
    const w = new Writer();
    writeResponseHeader(w, 0, { correlationId: 7 });
    writeApiVersionsResponse(w, 0, {
      errorCode: ErrorCode.UNSUPPORTED_VERSION,
      apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 4 }],
      throttleTimeMs: 100, // absent in v0
    });
    const bytes = w.toBytes();
    expect([...bytes]).toEqual([...int32(7), ...int16(35), ...int32(1), ...int16(18), ...int16(0), ...int16(4)]);
    const r = new Reader(bytes);
    expect(readResponseHeader(r, 0)).toEqual({ correlationId: 7 });
    const body = readApiVersionsResponse(r, 0);
    expect(body.errorCode).toBe(ErrorCode.UNSUPPORTED_VERSION);
    expect(body.apiKeys).toEqual([{ apiKey: 18, minVersion: 0, maxVersion: 4 }]);
    expect(body.throttleTimeMs).toBe(0);
  });

  test("tagged fields are written only when they differ from the default", () => {
    const plain = new Writer();
    writeApiVersionsResponse(plain, 3, { finalizedFeaturesEpoch: -1 });
    expect([...plain.toBytes()]).toEqual([0, 0, 1, 0, 0, 0, 0, 0]);
    const tagged = new Writer();
    writeApiVersionsResponse(tagged, 3, { finalizedFeaturesEpoch: 5 });
    expect([...tagged.toBytes()]).toEqual([0, 0, 1, 0, 0, 0, 0, 1, 1, 8, 0, 0, 0, 0, 0, 0, 0, 5]);
    expect(readApiVersionsResponse(new Reader(tagged.toBytes()), 3).finalizedFeaturesEpoch).toBe(5);
  });
});
