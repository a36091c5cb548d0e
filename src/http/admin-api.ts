/**
 * The JSON admin API under /api/: cluster, topics, consumer groups, a message browser and throughput
 * counters. Handlers read the broker's state directly; changes go through the controller, exactly as
 * the Kafka CreateTopics and DeleteTopics handlers do.
 */
import type { Broker } from "../broker.ts";
import { readConsumerProtocolAssignment } from "../protocol/generated/consumer-protocol.ts";
import { ConfigSource, describeTopicConfigs } from "../metadata/effective-configs.ts";
import type { TopicRecord } from "../metadata/records.ts";
import { ErrorCode, errorName } from "../protocol/error-codes.ts";
import { ProtocolError, Reader } from "../protocol/reader.ts";
import { batchSizeAt } from "../protocol/record-batch.ts";
import type { LocalReplica } from "../replication/replica-manager.ts";
import { HttpError, badRequest, notFound } from "./http-error.ts";
import { decodeBatch, type PartitionEntry } from "./record-view.ts";
import type { ThroughputSampler } from "./throughput.ts";

export const MAX_MESSAGES_PER_PAGE = 500;
export const DEFAULT_MESSAGES_PER_PAGE = 50;
/** Bytes read from a log per step of the message browser; a larger first batch is still read whole. */
const BROWSE_READ_BYTES = 1 << 20;
/** Reads per browser request: each reads at least one batch, so this bounds work on tiny batches. */
const MAX_BROWSE_READS = 64;

const CONFIG_SOURCE_NAMES = new Map<number, string>(Object.entries(ConfigSource).map(([name, code]) => [code, name]));

/** Topic names are [a-zA-Z0-9._-]; group ids are any string, so path segments are percent-decoded. */
function segment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest(`path segment ${raw} is not valid percent-encoding`);
  }
}

function integerParam(url: URL, name: string, fallback: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^-?\d+$/.test(raw)) throw badRequest(`query parameter ${name} must be an integer, got "${raw}"`);
  return Number(raw);
}

export class AdminApi {
  constructor(
    private readonly broker: Broker,
    private readonly throughput: ThroughputSampler,
    private readonly maxBodyBytes: number,
  ) {}

  /** Answers a request whose path starts with /api/. */
  async handle(request: Request, url: URL): Promise<Response> {
    const parts = url.pathname.split("/").slice(2).map(segment);
    if (parts[parts.length - 1] === "") parts.pop();
    const method = request.method;
    const [resource, id, sub, partition, leaf] = parts;
    const only = (allowed: string, answer: () => Promise<Response> | Response): Promise<Response> | Response => {
      if (method !== allowed && !(allowed === "GET" && method === "HEAD")) {
        throw new HttpError(405, "METHOD_NOT_ALLOWED", `${method} is not allowed on ${url.pathname}`);
      }
      return answer();
    };
    if (resource === "cluster" && parts.length === 1) return only("GET", () => Response.json(this.cluster()));
    if (resource === "stats" && parts.length === 1) return only("GET", () => Response.json(this.stats()));
    if (resource === "topics" && parts.length === 1) {
      if (method === "POST") return this.createTopic(request);
      return only("GET", () => Response.json({ topics: this.topics() }));
    }
    if (resource === "topics" && parts.length === 2) {
      if (method === "DELETE") return this.deleteTopic(id!);
      return only("GET", () => Response.json(this.topic(id!)));
    }
    if (resource === "topics" && parts.length === 5 && sub === "partitions" && leaf === "messages") {
      return only("GET", () => Response.json(this.messages(id!, partition!, url)));
    }
    if (resource === "groups" && parts.length === 1) return only("GET", async () => Response.json({ groups: await this.groups() }));
    if (resource === "groups" && parts.length === 2) return only("GET", async () => Response.json(await this.group(id!)));
    throw notFound(`no such API path ${url.pathname}`);
  }

  private cluster() {
    const state = this.broker.metadata.state;
    let partitionCount = 0;
    let topicCount = 0;
    for (const topic of state.topics()) {
      topicCount++;
      partitionCount += topic.partitions.length;
    }
    return {
      clusterId: state.clusterId,
      controllerId: this.broker.controllerId(),
      brokers: state.brokers(),
      node: {
        nodeId: this.broker.config.nodeId,
        kafkaPort: this.broker.kafkaPort,
        httpPort: this.broker.httpPort,
        ready: this.broker.isReady,
        flushMode: this.broker.config.flushMode,
        uptimeMs: Math.round(process.uptime() * 1000),
        bunVersion: Bun.version,
      },
      topicCount,
      partitionCount,
      flush: this.broker.logs.stats(),
    };
  }

  private stats() {
    const { messagesInTotal, bytesInTotal } = this.throughput.sample();
    let logBytes = 0;
    let messages = 0;
    for (const replica of this.broker.replicas.allReplicas()) {
      logBytes += replica.log.sizeBytes;
      messages += replica.log.highWatermark - replica.log.logStartOffset;
    }
    const flush = this.broker.logs.stats();
    return {
      timeMs: Date.now(),
      messagesInTotal,
      bytesInTotal,
      logBytes,
      messages,
      fsyncsTotal: flush.fsyncCount,
      flushedBytesTotal: flush.bytesFlushed,
    };
  }

  private topicSummary(topic: TopicRecord, replicas: readonly LocalReplica[] = this.broker.replicas.replicasOf(topic.name)) {
    let sizeBytes = 0;
    let messageCount = 0;
    for (const replica of replicas) {
      sizeBytes += replica.log.sizeBytes;
      messageCount += replica.log.highWatermark - replica.log.logStartOffset;
    }
    return {
      name: topic.name,
      topicId: topic.topicId,
      partitions: topic.partitions.length,
      replicationFactor: topic.partitions[0]?.replicas.length ?? 0,
      sizeBytes,
      messageCount,
    };
  }

  private topics() {
    // One pass over the replicas rather than one per topic.
    const byTopic = new Map<string, LocalReplica[]>();
    for (const replica of this.broker.replicas.allReplicas()) {
      const list = byTopic.get(replica.topic);
      if (list) list.push(replica);
      else byTopic.set(replica.topic, [replica]);
    }
    return [...this.broker.metadata.state.topics()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((t) => this.topicSummary(t, byTopic.get(t.name) ?? []));
  }

  private requireTopic(name: string): TopicRecord {
    const topic = this.broker.metadata.state.topic(name);
    if (!topic) throw notFound(`Topic ${name} does not exist`, errorName(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
    return topic;
  }

  private localReplica(topic: string, partition: number): LocalReplica | null {
    return this.broker.replicas.replicasOf(topic).find((r) => r.partition === partition) ?? null;
  }

  private topic(name: string) {
    const topic = this.requireTopic(name);
    const partitions = topic.partitions.map((p) => {
      const log = this.localReplica(topic.name, p.partition)?.log;
      return {
        partition: p.partition,
        leader: p.leader,
        leaderEpoch: p.leaderEpoch,
        replicas: p.replicas,
        isr: p.isr,
        logStartOffset: log?.logStartOffset ?? null,
        highWatermark: log?.highWatermark ?? null,
        logEndOffset: log?.logEndOffset ?? null,
        sizeBytes: log?.sizeBytes ?? null,
        segmentCount: log?.segmentCount ?? null,
      };
    });
    const configs = describeTopicConfigs(this.broker.topicDefaults(), topic.configs).map((c) => ({
      name: c.name,
      value: c.value,
      source: CONFIG_SOURCE_NAMES.get(c.source) ?? "UNKNOWN",
    }));
    return { ...this.topicSummary(topic), partitionDetails: partitions, configs };
  }

  private async readJson(request: Request): Promise<unknown> {
    // Demanding JSON makes a cross-site form or fetch need a CORS preflight, which this server never grants.
    const contentType = request.headers.get("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(contentType)) {
      throw new HttpError(415, "UNSUPPORTED_MEDIA_TYPE", `request body must be application/json, got "${contentType}"`);
    }
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > this.maxBodyBytes) throw new HttpError(413, "PAYLOAD_TOO_LARGE", `request body over ${this.maxBodyBytes} bytes`);
    const body = await request.arrayBuffer();
    if (body.byteLength > this.maxBodyBytes) throw new HttpError(413, "PAYLOAD_TOO_LARGE", `request body over ${this.maxBodyBytes} bytes`);
    try {
      return JSON.parse(new TextDecoder().decode(body));
    } catch {
      throw badRequest("request body is not valid JSON");
    }
  }

  private async createTopic(request: Request): Promise<Response> {
    const body = await this.readJson(request);
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("request body must be a JSON object");
    const { name, partitions = -1, replicationFactor = -1, configs = {} } = body as Record<string, unknown>;
    if (typeof name !== "string") throw badRequest("name must be a string");
    if (!Number.isSafeInteger(partitions)) throw badRequest("partitions must be an integer");
    if (!Number.isSafeInteger(replicationFactor)) throw badRequest("replicationFactor must be an integer");
    if (typeof configs !== "object" || configs === null || Array.isArray(configs)) throw badRequest("configs must be an object of name to value");
    const configList: { name: string; value: string | null }[] = [];
    for (const [key, value] of Object.entries(configs)) {
      if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
        throw badRequest(`config ${key} must be a string, number or boolean`);
      }
      configList.push({ name: key, value: String(value) });
    }
    const [result] = await this.broker.controller.createTopics(
      [{ name, numPartitions: partitions as number, replicationFactor: replicationFactor as number, assignments: [], configs: configList }],
      false,
    );
    if (result!.errorCode === ErrorCode.NONE) return Response.json(this.topic(name), { status: 201 });
    const status = result!.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS ? 409 : 400;
    throw new HttpError(status, errorName(result!.errorCode), result!.errorMessage ?? errorName(result!.errorCode));
  }

  private async deleteTopic(name: string): Promise<Response> {
    const [result] = await this.broker.controller.deleteTopics([{ name, topicId: null }]);
    if (result!.errorCode === ErrorCode.NONE) return new Response(null, { status: 204 });
    const status = result!.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION ? 404 : 400;
    throw new HttpError(status, errorName(result!.errorCode), result!.errorMessage ?? errorName(result!.errorCode));
  }

  private messages(topicName: string, rawPartition: string, url: URL) {
    const topic = this.requireTopic(topicName);
    if (!/^\d+$/.test(rawPartition)) throw badRequest(`partition must be a non-negative integer, got "${rawPartition}"`);
    const partition = Number(rawPartition);
    if (partition >= topic.partitions.length) {
      throw notFound(`Topic ${topicName} has no partition ${partition}`, errorName(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
    }
    const replica = this.localReplica(topicName, partition);
    if (!replica) throw notFound(`This broker holds no replica of ${topicName}-${partition}`, errorName(ErrorCode.NOT_LEADER_OR_FOLLOWER));
    const log = replica.log;
    const limit = integerParam(url, "limit", DEFAULT_MESSAGES_PER_PAGE);
    if (limit < 1 || limit > MAX_MESSAGES_PER_PAGE) throw badRequest(`limit must be between 1 and ${MAX_MESSAGES_PER_PAGE}, got ${limit}`);
    const highWatermark = log.highWatermark;
    const offset = integerParam(url, "offset", log.logStartOffset);
    if (offset < log.logStartOffset || offset > highWatermark) {
      throw badRequest(
        `offset ${offset} is outside the partition's range ${log.logStartOffset}..${highWatermark}`,
        errorName(ErrorCode.OFFSET_OUT_OF_RANGE),
      );
    }
    const entries: PartitionEntry[] = [];
    let next = offset;
    for (let reads = 0; reads < MAX_BROWSE_READS && next < highWatermark && entries.length < limit; reads++) {
      const read = log.read(next, BROWSE_READ_BYTES, { minOneBatch: true, maxOffset: highWatermark });
      if ("outOfRange" in read || read.bytes === 0) break;
      try {
        for (const view of read.batches) {
          for (let pos = 0; pos < view.byteLength && entries.length < limit; pos += batchSizeAt(view, pos)) {
            for (const entry of decodeBatch(view, pos)) {
              const last = entry.kind === "batch" ? entry.lastOffset : entry.offset;
              if (last < next || entries.length >= limit) continue;
              entries.push(entry);
              next = last + 1;
            }
          }
        }
      } finally {
        read.release();
      }
    }
    return {
      topic: topicName,
      partition,
      logStartOffset: log.logStartOffset,
      highWatermark,
      offset,
      nextOffset: next,
      messages: entries,
    };
  }

  private async groupLag(groupId: string) {
    const fetched = await this.broker.groups.fetchOffsets(groupId, null);
    const offsets: { topic: string; partition: number; committedOffset: number; highWatermark: number | null; lag: number | null; metadata: string }[] = [];
    for (const topic of fetched.topics) {
      for (const p of topic.partitions) {
        if (p.committedOffset < 0) continue;
        const log = this.localReplica(topic.name, p.partitionIndex)?.log;
        const highWatermark = log?.highWatermark ?? null;
        offsets.push({
          topic: topic.name,
          partition: p.partitionIndex,
          committedOffset: p.committedOffset,
          highWatermark,
          lag: highWatermark === null ? null : Math.max(0, highWatermark - p.committedOffset),
          metadata: p.metadata,
        });
      }
    }
    offsets.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    return offsets;
  }

  private async groups() {
    const listed = this.broker.groups.listGroups([]).sort((a, b) => a.groupId.localeCompare(b.groupId));
    const described = new Map(this.broker.groups.describeGroups(listed.map((g) => g.groupId)).map((g) => [g.groupId, g]));
    const groups = [];
    for (const group of listed) {
      const offsets = await this.groupLag(group.groupId);
      groups.push({
        groupId: group.groupId,
        state: group.groupState,
        protocolType: group.protocolType,
        members: described.get(group.groupId)?.members.length ?? 0,
        totalLag: offsets.reduce((sum, o) => sum + (o.lag ?? 0), 0),
      });
    }
    return groups;
  }

  private async group(groupId: string) {
    if (!this.broker.groups.listGroups([]).some((g) => g.groupId === groupId)) {
      throw notFound(`Group ${groupId} does not exist`, errorName(ErrorCode.GROUP_ID_NOT_FOUND));
    }
    const [described] = this.broker.groups.describeGroups([groupId]);
    const offsets = await this.groupLag(groupId);
    return {
      groupId,
      state: described!.groupState,
      protocolType: described!.protocolType,
      protocol: described!.protocolData,
      members: described!.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        assignment: described!.protocolType === "consumer" ? decodeAssignment(m.memberAssignment) : null,
      })),
      offsets,
      totalLag: offsets.reduce((sum, o) => sum + (o.lag ?? 0), 0),
    };
  }
}

/** A consumer member's assigned partitions, or null when the bytes are empty or not a ConsumerProtocolAssignment. */
function decodeAssignment(bytes: Uint8Array): { topic: string; partitions: number[] }[] | null {
  if (bytes.byteLength < 2) return null;
  try {
    const reader = new Reader(bytes);
    if (reader.readInt16() < 0) return null;
    return readConsumerProtocolAssignment(reader, 0).assignedPartitions.map((t) => ({ topic: t.topic, partitions: t.partitions }));
  } catch (error) {
    if (error instanceof ProtocolError) return null;
    throw error;
  }
}
