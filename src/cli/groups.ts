/** `chronik groups ...`: list consumer groups, describe one with its lag, and reset its committed offsets. */
import { KafkaError } from "../client/connection.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import { ApiKey, readConsumerProtocolAssignment, type ListGroupsResponse } from "../protocol/generated/index.ts";
import { Reader } from "../protocol/reader.ts";
import { BOOTSTRAP_FLAG, JSON_FLAG, UsageError, boolFlag, intFlag, stringFlag } from "./args.ts";
import { table, writeJson, writeStdout, type CliCommand } from "./output.ts";
import { CliError, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, commitOffsets, describeGroup, fetchCommittedOffsets, type Session } from "./session.ts";

const GROUP_ARG = { name: "GROUP", description: "consumer group id" };
/** States in which no member owns partitions, so offsets may be rewritten under it. */
const RESETTABLE_STATES = new Set(["Empty", "Dead"]);

const list: CliCommand = {
  spec: { name: "groups list", summary: "List consumer groups on every broker.", positionals: [], flags: [JSON_FLAG, BOOTSTRAP_FLAG] },
  async run({ connect, json }) {
    const session = await connect();
    await session.metadata([]);
    const groups: { groupId: string; state: string; protocolType: string }[] = [];
    for (const nodeId of session.brokerIds()) {
      const connection = await session.connectionTo(nodeId);
      const version = connection.pickVersion(ApiKey.ListGroups, 5);
      const response = await connection.request<ListGroupsResponse>(ApiKey.ListGroups, version, { statesFilter: [], typesFilter: [] });
      if (response.errorCode !== ErrorCode.NONE) throw new KafkaError(response.errorCode, `list groups on broker ${nodeId}`);
      for (const g of response.groups) groups.push({ groupId: g.groupId, state: version >= 4 ? g.groupState : "", protocolType: g.protocolType });
    }
    groups.sort((a, b) => a.groupId.localeCompare(b.groupId));
    if (json) await writeJson(groups);
    else if (groups.length > 0) await writeStdout(table(["GROUP", "STATE", "PROTOCOL-TYPE"], groups.map((g) => [g.groupId, g.state || "-", g.protocolType || "-"])));
    return 0;
  },
};

interface PartitionLag {
  topic: string;
  partition: number;
  committedOffset: number;
  /** -1 when the topic no longer exists. */
  endOffset: number;
  lag: number | null;
}

const describe: CliCommand = {
  spec: {
    name: "groups describe",
    summary: "Show a group's state, members, committed offsets and lag (end offset minus committed offset).",
    positionals: [GROUP_ARG],
    flags: [JSON_FLAG, BOOTSTRAP_FLAG],
  },
  async run({ args, connect, json }) {
    const groupId = args.positionals[0]!;
    const session = await connect();
    const coordinator = await session.coordinator(groupId);
    const group = await describeGroup(coordinator, groupId);
    const committed = await fetchCommittedOffsets(coordinator, groupId, null);
    if (group.groupState === "Dead" && committed.size === 0) throw new CliError(`group ${groupId} does not exist`);
    const offsets = await lagOf(session, committed);
    const members = group.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      assignment: group.protocolType === "consumer" ? decodeAssignment(m.memberAssignment) : [],
    }));
    const totalLag = offsets.reduce((sum, o) => sum + (o.lag ?? 0), 0);
    if (json) {
      await writeJson({ groupId, state: group.groupState, protocolType: group.protocolType, protocol: group.protocolData, members, offsets, totalLag });
      return 0;
    }
    let text = `Group: ${groupId}  State: ${group.groupState}  Protocol: ${group.protocolType || "-"}/${group.protocolData || "-"}  Members: ${members.length}\n`;
    if (members.length > 0) {
      text += "\n" + table(["MEMBER", "CLIENT-ID", "HOST", "ASSIGNMENT"], members.map((m) => [m.memberId, m.clientId, m.clientHost, m.assignment.map((a) => `${a.topic}-${a.partition}`).join(",") || "-"]));
    }
    text += offsets.length === 0 ? "\nNo committed offsets.\n" : "\n" + table(["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"], offsets.map((o) => [o.topic, o.partition, o.committedOffset, o.endOffset < 0 ? "-" : o.endOffset, o.lag ?? "-"]));
    if (offsets.length > 0) text += `\nTotal lag: ${totalLag}\n`;
    await writeStdout(text);
    return 0;
  },
};

const resetOffsets: CliCommand = {
  spec: {
    name: "groups reset-offsets",
    summary: "Rewrite a group's committed offsets for a topic; the group must have no active members.",
    positionals: [GROUP_ARG],
    flags: [
      { name: "topic", value: "TOPIC", description: "topic whose offsets to reset (required)" },
      { name: "partition", value: "N", description: "only this partition (default: all)" },
      { name: "to-earliest", description: "reset to each partition's earliest offset" },
      { name: "to-latest", description: "reset to each partition's end offset" },
      { name: "to-offset", value: "N", description: "reset to N, kept within each partition's earliest..end range" },
      JSON_FLAG,
      BOOTSTRAP_FLAG,
    ],
    notes: ["Exactly one of --to-earliest, --to-latest and --to-offset is required."],
  },
  async run({ args, connect, json }) {
    const groupId = args.positionals[0]!;
    const topicName = stringFlag(args, "topic");
    if (topicName === undefined) throw new UsageError("--topic is required", "groups reset-offsets");
    const toOffset = intFlag(args, "groups reset-offsets", "to-offset", 0);
    const targets = [boolFlag(args, "to-earliest"), boolFlag(args, "to-latest"), toOffset !== undefined].filter(Boolean).length;
    if (targets !== 1) throw new UsageError("give exactly one of --to-earliest, --to-latest and --to-offset N", "groups reset-offsets");
    const onlyPartition = intFlag(args, "groups reset-offsets", "partition", 0);

    const session = await connect();
    const coordinator = await session.coordinator(groupId);
    const group = await describeGroup(coordinator, groupId);
    if (!RESETTABLE_STATES.has(group.groupState)) {
      throw new CliError(`group ${groupId} is ${group.groupState} with ${group.members.length} member(s); offsets can only be reset while it is empty (stop its consumers first)`);
    }
    const topic = await session.topic(topicName);
    if (onlyPartition !== undefined && !topic.leaders.has(onlyPartition)) {
      throw new CliError(`topic ${topicName} has ${topic.leaders.size} partitions; partition ${onlyPartition} does not exist`);
    }
    const partitions = onlyPartition !== undefined ? [onlyPartition] : [...topic.leaders.keys()];
    const earliest = await session.listOffsets(topic, partitions, EARLIEST_TIMESTAMP);
    const latest = await session.listOffsets(topic, partitions, LATEST_TIMESTAMP);
    const offsets = new Map<number, number>();
    for (const p of partitions) {
      if (boolFlag(args, "to-earliest")) offsets.set(p, earliest.get(p)!);
      else if (boolFlag(args, "to-latest")) offsets.set(p, latest.get(p)!);
      else offsets.set(p, Math.min(Math.max(toOffset!, earliest.get(p)!), latest.get(p)!));
    }
    await commitOffsets(coordinator, groupId, topicName, offsets);
    const rows = [...offsets].map(([partition, offset]) => ({ topic: topicName, partition, offset }));
    if (json) await writeJson({ groupId, offsets: rows });
    else await writeStdout(table(["TOPIC", "PARTITION", "NEW-OFFSET"], rows.map((r) => [r.topic, r.partition, r.offset])));
    return 0;
  },
};

/** Committed offsets with each partition's end offset and the difference. */
async function lagOf(session: Session, committed: Map<string, Map<number, number>>): Promise<PartitionLag[]> {
  const rows: PartitionLag[] = [];
  for (const [topicName, byPartition] of [...committed].sort(([a], [b]) => a.localeCompare(b))) {
    const partitions = [...byPartition.keys()].sort((a, b) => a - b);
    let ends = new Map<number, number>();
    try {
      const topic = await session.topic(topicName);
      ends = await session.listOffsets(topic, partitions.filter((p) => topic.leaders.has(p)), LATEST_TIMESTAMP);
    } catch (error) {
      if (!(error instanceof KafkaError && error.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)) throw error;
    }
    for (const partition of partitions) {
      const committedOffset = byPartition.get(partition)!;
      const endOffset = ends.get(partition) ?? -1;
      const lag = endOffset >= 0 && committedOffset >= 0 ? Math.max(0, endOffset - committedOffset) : null;
      rows.push({ topic: topicName, partition, committedOffset, endOffset, lag });
    }
  }
  return rows;
}

/** A consumer member's assignment (ConsumerProtocolAssignment after its int16 version); empty when undecodable. */
function decodeAssignment(bytes: Uint8Array): { topic: string; partition: number }[] {
  if (bytes.byteLength < 2) return [];
  try {
    const version = new DataView(bytes.buffer, bytes.byteOffset, 2).getInt16(0);
    const assignment = readConsumerProtocolAssignment(new Reader(bytes, 2), version);
    return assignment.assignedPartitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));
  } catch {
    return [];
  }
}

export const GROUP_COMMANDS: CliCommand[] = [list, describe, resetOffsets];
