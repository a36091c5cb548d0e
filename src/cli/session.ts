/**
 * The CLI's view of a cluster: one bootstrap connection, more opened on demand to partition leaders and group
 * coordinators, and the handful of requests several commands share (Metadata, ListOffsets, FindCoordinator,
 * OffsetFetch, OffsetCommit, DescribeGroups).
 */
import { KafkaConnection, KafkaError, parseBootstrap } from "../client/connection.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import {
  ApiKey,
  type DescribeGroupsResponse,
  type DescribeGroupsResponseDescribedGroup,
  type FindCoordinatorResponse,
  type ListOffsetsResponse,
  type MetadataResponse,
  type MetadataResponseTopic,
  type OffsetCommitResponse,
  type OffsetFetchResponse,
} from "../protocol/generated/index.ts";
import { ZERO_UUID } from "../protocol/reader.ts";

/** A failure to report (not a usage mistake): the CLI prints the message and exits 1. */
export class CliError extends Error {
  override name = "CliError";
}

const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 30_000;
const CLIENT_ID = "chronik-cli";
/** ListOffsets timestamps with special meaning. */
export const LATEST_TIMESTAMP = -1;
export const EARLIEST_TIMESTAMP = -2;
/** Leaders of auto-created topics are elected right after the first Metadata; wait this long for them. */
const LEADER_WAIT_MS = 10_000;

export interface TopicPartitions {
  name: string;
  /** Partition index to leader node id, sorted by index. */
  leaders: Map<number, number>;
}

export class Session {
  private readonly byAddress = new Map<string, KafkaConnection>();
  private brokers = new Map<number, { host: string; port: number }>();

  private constructor(
    readonly bootstrap: KafkaConnection,
    bootstrapAddress: string,
  ) {
    this.byAddress.set(bootstrapAddress, bootstrap);
  }

  /** Connects to the first reachable address of a comma-separated bootstrap list. */
  static async open(bootstrap: string): Promise<Session> {
    const failures: string[] = [];
    for (const address of bootstrap.split(",").map((a) => a.trim()).filter((a) => a !== "")) {
      let target: { host: string; port: number };
      try {
        target = parseBootstrap(address);
      } catch {
        throw new CliError(`bad --bootstrap address ${JSON.stringify(address)}: expected HOST:PORT`);
      }
      try {
        const connection = await connectAndNegotiate(target.host, target.port);
        return new Session(connection, `${target.host}:${target.port}`);
      } catch (error) {
        failures.push(`${address}: ${describeError(error)}`);
      }
    }
    throw new CliError(`cannot reach a broker at ${bootstrap} (${failures.join("; ") || "no address given"})`);
  }

  close(): void {
    for (const connection of this.byAddress.values()) connection.close();
  }

  async metadata(topics: string[] | null, allowAutoTopicCreation = false): Promise<MetadataResponse> {
    const version = this.bootstrap.pickVersion(ApiKey.Metadata, 12);
    const response = await this.bootstrap.request<MetadataResponse>(ApiKey.Metadata, version, {
      topics: topics === null ? null : topics.map((name) => ({ topicId: ZERO_UUID, name })),
      allowAutoTopicCreation,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    this.brokers = new Map(response.brokers.map((b) => [b.nodeId, { host: b.host, port: b.port }]));
    return response;
  }

  /** One topic's partitions and leaders; throws the topic's Kafka error (UNKNOWN_TOPIC_OR_PARTITION, ...). */
  async topic(name: string, allowAutoTopicCreation = false): Promise<TopicPartitions> {
    const deadlineMs = performance.now() + LEADER_WAIT_MS;
    for (;;) {
      const response = await this.metadata([name], allowAutoTopicCreation);
      const topic = response.topics.find((t) => t.name === name);
      if (topic === undefined) throw new CliError(`the broker's Metadata response does not mention topic ${name}`);
      const settled = topic.errorCode === ErrorCode.NONE && topic.partitions.length > 0 && topic.partitions.every((p) => p.leaderId >= 0);
      if (settled) return { name, leaders: leadersOf(topic) };
      const transient = topic.errorCode === ErrorCode.LEADER_NOT_AVAILABLE || topic.errorCode === ErrorCode.NONE;
      if (!transient || performance.now() > deadlineMs) {
        throw new KafkaError(topic.errorCode === ErrorCode.NONE ? ErrorCode.LEADER_NOT_AVAILABLE : topic.errorCode, `topic ${name}`);
      }
      await Bun.sleep(100);
    }
  }

  /** The connection to a broker by node id (the bootstrap connection when it is that broker or the only one). */
  async connectionTo(nodeId: number): Promise<KafkaConnection> {
    const broker = this.brokers.get(nodeId);
    if (broker === undefined) throw new CliError(`broker ${nodeId} is not in the cluster's metadata`);
    if (this.brokers.size === 1) return this.bootstrap;
    return this.connectionAt(broker.host, broker.port);
  }

  async connectionAt(host: string, port: number): Promise<KafkaConnection> {
    const address = `${host}:${port}`;
    const known = this.byAddress.get(address);
    if (known !== undefined && !known.closed) return known;
    let connection: KafkaConnection;
    try {
      connection = await connectAndNegotiate(host, port);
    } catch (error) {
      throw new CliError(`cannot reach broker ${address}: ${describeError(error)}`);
    }
    this.byAddress.set(address, connection);
    return connection;
  }

  /** Every broker's node id, from the last Metadata response. */
  brokerIds(): number[] {
    return [...this.brokers.keys()].sort((a, b) => a - b);
  }

  /** Offsets of the partitions at a ListOffsets timestamp (LATEST_TIMESTAMP, EARLIEST_TIMESTAMP), asked of each leader. */
  async listOffsets(topic: TopicPartitions, partitions: readonly number[], timestamp: number): Promise<Map<number, number>> {
    const byLeader = new Map<number, number[]>();
    for (const partition of partitions) {
      const leader = topic.leaders.get(partition);
      if (leader === undefined) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `partition ${topic.name}-${partition}`);
      let list = byLeader.get(leader);
      if (list === undefined) byLeader.set(leader, (list = []));
      list.push(partition);
    }
    const offsets = new Map<number, number>();
    for (const [leader, list] of byLeader) {
      const connection = await this.connectionTo(leader);
      const version = connection.pickVersion(ApiKey.ListOffsets, 10);
      const response = await connection.request<ListOffsetsResponse>(ApiKey.ListOffsets, version, {
        replicaId: -1,
        isolationLevel: 0,
        timeoutMs: REQUEST_TIMEOUT_MS,
        topics: [{ name: topic.name, partitions: list.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp, maxNumOffsets: 1 })) }],
      });
      for (const t of response.topics) {
        for (const p of t.partitions) {
          if (p.errorCode !== ErrorCode.NONE) throw new KafkaError(p.errorCode, `list offsets of ${t.name}-${p.partitionIndex}`);
          offsets.set(p.partitionIndex, version === 0 ? (p.oldStyleOffsets[0] ?? -1) : p.offset);
        }
      }
    }
    return offsets;
  }

  /** The connection to a group's coordinator. */
  async coordinator(groupId: string): Promise<KafkaConnection> {
    const version = this.bootstrap.pickVersion(ApiKey.FindCoordinator, 6);
    const response = await this.bootstrap.request<FindCoordinatorResponse>(ApiKey.FindCoordinator, version, { key: groupId, keyType: 0, coordinatorKeys: [groupId] });
    const found = version >= 4 ? response.coordinators[0] : response;
    if (found === undefined) throw new CliError(`FindCoordinator for group ${groupId} returned no coordinator`);
    if (found.errorCode !== ErrorCode.NONE) throw new KafkaError(found.errorCode, `find the coordinator of group ${groupId}`);
    if (this.brokers.size === 0) await this.metadata([]);
    if (this.brokers.size === 1 && this.brokers.has(found.nodeId)) return this.bootstrap;
    return this.connectionAt(found.host, found.port);
  }
}

function leadersOf(topic: MetadataResponseTopic): Map<number, number> {
  const sorted = [...topic.partitions].sort((a, b) => a.partitionIndex - b.partitionIndex);
  return new Map(sorted.map((p) => [p.partitionIndex, p.leaderId]));
}

async function connectAndNegotiate(host: string, port: number): Promise<KafkaConnection> {
  const connection = await KafkaConnection.connect({ host, port, clientId: CLIENT_ID, connectTimeoutMs: CONNECT_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  try {
    await connection.negotiateVersions();
  } catch (error) {
    connection.close();
    throw error;
  }
  return connection;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: string }).code;
    return code !== undefined && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/** Committed offsets of a group: topic to partition to offset (-1 when nothing is committed). Null topics: all. */
export async function fetchCommittedOffsets(coordinator: KafkaConnection, groupId: string, topics: { name: string; partitions: number[] }[] | null): Promise<Map<string, Map<number, number>>> {
  // v8+ batches groups in another shape; one group needs nothing beyond v7.
  const version = coordinator.pickVersion(ApiKey.OffsetFetch, 7);
  const response = await coordinator.request<OffsetFetchResponse>(ApiKey.OffsetFetch, version, {
    groupId,
    topics: topics === null ? null : topics.map((t) => ({ name: t.name, partitionIndexes: t.partitions })),
    groups: [],
    requireStable: false,
  });
  if (response.errorCode !== ErrorCode.NONE) throw new KafkaError(response.errorCode, `fetch committed offsets of group ${groupId}`);
  const committed = new Map<string, Map<number, number>>();
  for (const t of response.topics) {
    const byPartition = new Map<number, number>();
    for (const p of t.partitions) {
      if (p.errorCode !== ErrorCode.NONE) throw new KafkaError(p.errorCode, `fetch committed offset of ${t.name}-${p.partitionIndex} in group ${groupId}`);
      byPartition.set(p.partitionIndex, p.committedOffset);
    }
    committed.set(t.name, byPartition);
  }
  return committed;
}

/** Commits offsets outside any generation (generation -1, no member), as a standalone consumer does. */
export async function commitOffsets(coordinator: KafkaConnection, groupId: string, topic: string, offsets: ReadonlyMap<number, number>): Promise<void> {
  if (offsets.size === 0) return;
  const version = coordinator.pickVersion(ApiKey.OffsetCommit, 9);
  const response = await coordinator.request<OffsetCommitResponse>(ApiKey.OffsetCommit, version, {
    groupId,
    generationIdOrMemberEpoch: -1,
    memberId: "",
    groupInstanceId: null,
    retentionTimeMs: -1,
    topics: [
      {
        name: topic,
        partitions: [...offsets].map(([partitionIndex, committedOffset]) => ({ partitionIndex, committedOffset, committedLeaderEpoch: -1, commitTimestamp: -1, committedMetadata: null })),
      },
    ],
  });
  for (const t of response.topics) {
    for (const p of t.partitions) {
      if (p.errorCode !== ErrorCode.NONE) throw new KafkaError(p.errorCode, `commit offset of ${t.name}-${p.partitionIndex} for group ${groupId}`);
    }
  }
}

export async function describeGroup(coordinator: KafkaConnection, groupId: string): Promise<DescribeGroupsResponseDescribedGroup> {
  const version = coordinator.pickVersion(ApiKey.DescribeGroups, 5);
  const response = await coordinator.request<DescribeGroupsResponse>(ApiKey.DescribeGroups, version, { groups: [groupId], includeAuthorizedOperations: false });
  const group = response.groups[0];
  if (group === undefined) throw new CliError(`DescribeGroups returned nothing for group ${groupId}`);
  if (group.errorCode !== ErrorCode.NONE) throw new KafkaError(group.errorCode, `describe group ${groupId}`);
  return group;
}
