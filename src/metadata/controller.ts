import { ErrorCode } from "../protocol/error-codes.ts";
import { RaftProposalError } from "../raft/node.ts";
import { assignReplicas, newPartition } from "./assignment.ts";
import type { MetadataLog } from "./metadata-log.ts";
import type { BrokerRegistration, CommandOutcome, LeaderElection, MetadataCommand, Placement, TopicRecord } from "./records.ts";
import type { MetadataState } from "./state.ts";
import { topicConfigSpec, validateTopicConfig } from "./topic-configs.ts";

export interface TopicCreation {
  name: string;
  /** -1 for the broker default. */
  numPartitions: number;
  /** -1 for the broker default. */
  replicationFactor: number;
  /** Explicit replica lists per partition; when given, numPartitions and replicationFactor must be -1. */
  assignments: { partitionIndex: number; brokerIds: number[] }[];
  configs: { name: string; value: string | null }[];
}

export interface TopicCreationResult {
  name: string;
  errorCode: number;
  errorMessage: string | null;
  topic: TopicRecord | null;
}

export interface TopicDeletionResult {
  name: string | null;
  topicId: string | null;
  errorCode: number;
  errorMessage: string | null;
}

export interface ControllerDefaults {
  defaultPartitions: number;
  defaultReplicationFactor: number;
}

const MAX_TOPIC_NAME_LENGTH = 249;
/** KRaft's own log: Kafka refuses a user topic of that name, so clients see the same here. */
const CLUSTER_METADATA_TOPIC = "__cluster_metadata";
const LEGAL_TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;

export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return "Topic name is illegal, it can't be empty";
  if (name === "." || name === "..") return "Topic name cannot be \".\" or \"..\"";
  if (name.length > MAX_TOPIC_NAME_LENGTH) return `Topic name is illegal, it can't be longer than ${MAX_TOPIC_NAME_LENGTH} characters`;
  if (!LEGAL_TOPIC_NAME.test(name)) return `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`;
  return null;
}

/**
 * Plans one topic creation against this node's view of the state: a command, or the Kafka error a client gets.
 * Replicas are placed when the command applies (balanced against the state of that moment); `preview` is the
 * placement the current state would give, for validate-only requests. Pure: the topic id generator is passed in.
 */
export function planTopicCreation(
  state: MetadataState,
  request: TopicCreation,
  defaults: ControllerDefaults,
  newTopicId: () => string,
): { command: MetadataCommand & { type: "create-topic" }; preview: TopicRecord } | { errorCode: number; errorMessage: string } {
  const nameProblem = topicNameProblem(request.name);
  if (nameProblem) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: nameProblem };
  if (request.name === CLUSTER_METADATA_TOPIC) {
    return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Creation of internal topic ${CLUSTER_METADATA_TOPIC} is prohibited.` };
  }
  if (state.topic(request.name)) {
    return { errorCode: ErrorCode.TOPIC_ALREADY_EXISTS, errorMessage: `Topic '${request.name}' already exists.` };
  }
  const configs: Record<string, string> = {};
  for (const { name, value } of request.configs) {
    const problem = validateTopicConfig(name, value);
    if (problem) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: problem };
    if (value !== null) configs[name] = value;
  }
  const live = state.liveBrokers();
  let placement: Placement;
  if (request.assignments.length > 0) {
    if (request.numPartitions !== -1 || request.replicationFactor !== -1) {
      return {
        errorCode: ErrorCode.INVALID_REQUEST,
        errorMessage: "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
      };
    }
    const sorted = [...request.assignments].sort((a, b) => a.partitionIndex - b.partitionIndex);
    for (let i = 0; i < sorted.length; i++) {
      const { partitionIndex, brokerIds } = sorted[i]!;
      if (partitionIndex !== i) {
        return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: "Partitions should be a consecutive 0-based integer sequence" };
      }
      if (brokerIds.length === 0 || new Set(brokerIds).size !== brokerIds.length) {
        return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `Partition ${i} has an empty or duplicate replica list` };
      }
      const unknown = brokerIds.find((id) => !state.broker(id));
      if (unknown !== undefined) {
        return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `Broker ${unknown} in the assignment of partition ${i} is not registered` };
      }
    }
    placement = { kind: "explicit", replicas: sorted.map(({ brokerIds }) => [...brokerIds]) };
  } else {
    const numPartitions = request.numPartitions === -1 ? defaults.defaultPartitions : request.numPartitions;
    const replicationFactor = request.replicationFactor === -1 ? defaults.defaultReplicationFactor : request.replicationFactor;
    if (numPartitions <= 0) return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: "Number of partitions must be larger than 0." };
    if (numPartitions > MAX_PARTITIONS_PER_REQUEST) return tooManyPartitions(numPartitions);
    if (replicationFactor <= 0) {
      return { errorCode: ErrorCode.INVALID_REPLICATION_FACTOR, errorMessage: "Replication factor must be larger than 0." };
    }
    if (replicationFactor > live.length) {
      return {
        errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
        errorMessage: `Unable to replicate the partition ${replicationFactor} time(s): The target replication factor of ${replicationFactor} cannot be reached because only ${live.length} broker(s) are registered.`,
      };
    }
    placement = { kind: "balanced", count: numPartitions, replicationFactor };
  }
  const topicId = newTopicId();
  const partitions =
    placement.kind === "explicit"
      ? placement.replicas.map((replicas, i) => newPartition(i, replicas))
      : assignReplicas(state, live, 0, placement.count, placement.replicationFactor);
  return {
    command: { type: "create-topic", name: request.name, topicId, configs, placement },
    preview: { name: request.name, topicId, partitions, configs },
  };
}

/** Kafka's IncrementalAlterConfigs operations; AlterConfigs uses SET for every entry. */
export const ConfigOperation = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

export interface TopicConfigAlteration {
  name: string;
  /** AlterConfigs semantics: overrides not named in the request are removed. */
  replaceAll: boolean;
  /** A null value with SET removes the override. */
  operations: { name: string; operation: number; value: string | null }[];
}

export interface PartitionCreation {
  name: string;
  /** The total partition count wanted. */
  count: number;
  /** Replica lists of the new partitions only, or null to let the controller place them. */
  assignments: number[][] | null;
}

export interface AdminResult {
  name: string;
  errorCode: number;
  errorMessage: string | null;
}

type Plan = { command: MetadataCommand | null } | { errorCode: number; errorMessage: string };

function listItems(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Plans one topic's config change as Kafka validates it: the whole resulting override set must be valid. */
export function planTopicConfigAlteration(state: MetadataState, request: TopicConfigAlteration): Plan {
  const topic = state.topic(request.name);
  if (!topic) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic ${request.name} does not exist` };
  const names = request.operations.map((o) => o.name);
  if (new Set(names).size !== names.length) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "Error due to duplicate config keys" };
  const next: Record<string, string> = request.replaceAll ? {} : { ...topic.configs };
  for (const { name, operation, value } of request.operations) {
    const spec = topicConfigSpec(name);
    if (!spec) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Unknown topic config name: ${name}` };
    switch (operation) {
      case ConfigOperation.SET:
        if (value === null) delete next[name];
        else next[name] = value;
        break;
      case ConfigOperation.DELETE:
        delete next[name];
        break;
      case ConfigOperation.APPEND:
      case ConfigOperation.SUBTRACT: {
        const verb = operation === ConfigOperation.APPEND ? "append" : "subtract";
        if (spec.type !== "list") return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Config value ${verb} is not allowed for config key: ${name}` };
        const current = listItems(next[name] ?? spec.defaultValue);
        const given = listItems(value ?? "");
        const result = operation === ConfigOperation.APPEND ? [...current, ...given.filter((v) => !current.includes(v))] : current.filter((v) => !given.includes(v));
        next[name] = result.join(",");
        break;
      }
      default:
        return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unknown alter configs operation ${operation} for ${name}` };
    }
  }
  for (const [name, value] of Object.entries(next)) {
    const problem = validateTopicConfig(name, value);
    if (problem) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: problem };
  }
  const changes: Record<string, string | null> = {};
  for (const name of Object.keys(topic.configs)) if (!(name in next)) changes[name] = null;
  for (const [name, value] of Object.entries(next)) if (topic.configs[name] !== value) changes[name] = value;
  if (Object.keys(changes).length === 0) return { command: null };
  return { command: { type: "alter-topic-configs", name: topic.name, configs: changes } };
}

/**
 * Kafka's controller limit on partitions one request may create (MAX_PARTITIONS_PER_BATCH): without it a
 * numPartitions of 2^31-1 in one small request makes the broker build partitions until memory runs out.
 */
export const MAX_PARTITIONS_PER_REQUEST = 10_000;

function tooManyPartitions(count: number): Plan {
  return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `Cannot create ${count} partitions in one request; the limit is ${MAX_PARTITIONS_PER_REQUEST}.` };
}

/** Plans new partitions for a topic with Kafka's checks: a real increase, and assignments consistent with the topic. */
export function planPartitionCreation(state: MetadataState, request: PartitionCreation): Plan {
  const topic = state.topic(request.name);
  if (!topic) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic ${request.name} does not exist` };
  const current = topic.partitions.length;
  if (request.count < current) {
    return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `The topic ${topic.name} currently has ${current} partition(s); ${request.count} would not be an increase.` };
  }
  if (request.count === current) return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `Topic already has ${current} partition(s).` };
  const additional = request.count - current;
  if (additional > MAX_PARTITIONS_PER_REQUEST) return tooManyPartitions(additional);
  const replicationFactor = topic.partitions[0]!.replicas.length;
  let placement: Placement;
  if (request.assignments !== null) {
    const invalid = (errorMessage: string): Plan => ({ errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage });
    if (request.assignments.length !== additional) {
      return invalid(`Attempted to add ${additional} additional partition(s), but only ${request.assignments.length} assignment(s) were specified.`);
    }
    for (const brokerIds of request.assignments) {
      if (brokerIds.length !== replicationFactor) {
        return invalid(
          `The manual partition assignment includes a partition with ${brokerIds.length} replica(s), but this is not consistent with previous partitions, which have ${replicationFactor} replica(s).`,
        );
      }
      const duplicate = brokerIds.find((id, i) => brokerIds.indexOf(id) !== i);
      if (duplicate !== undefined) return invalid(`The manual partition assignment includes the broker ${duplicate} more than once.`);
      const unknown = brokerIds.find((id) => !state.broker(id));
      if (unknown !== undefined) return invalid(`The manual partition assignment includes broker ${unknown}, but no such broker is registered.`);
    }
    placement = { kind: "explicit", replicas: request.assignments.map((brokerIds) => [...brokerIds]) };
  } else {
    const live = state.liveBrokers();
    if (replicationFactor > live.length) {
      return {
        errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
        errorMessage: `Unable to replicate the partition ${replicationFactor} time(s): only ${live.length} broker(s) are registered.`,
      };
    }
    placement = { kind: "balanced", count: additional, replicationFactor };
  }
  return { command: { type: "create-partitions", name: topic.name, firstPartition: current, placement } };
}

export interface PartitionElectionResult {
  partition: number;
  errorCode: number;
  errorMessage: string | null;
}

export interface TopicElectionResult {
  topic: string;
  partitions: PartitionElectionResult[];
}

/**
 * Plans one partition's election against this node's view: the command, or the answer without a proposal.
 * The state machine makes the same checks again at apply time.
 */
export function planElection(state: MetadataState, topic: string, partition: number, election: LeaderElection): Plan {
  const p = state.topic(topic)?.partitions[partition];
  if (!p) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `${topic}-${partition} does not exist` };
  if (election === "preferred") {
    const preferred = p.replicas[0]!;
    if (p.leader === preferred) return { errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: `broker ${preferred} already leads ${topic}-${partition}` };
    if (!p.isr.includes(preferred) || state.broker(preferred)?.fenced !== false) {
      return { errorCode: ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE, errorMessage: `preferred replica ${preferred} of ${topic}-${partition} is not a live ISR member` };
    }
  } else if (p.leader !== -1) {
    return { errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: `${topic}-${partition} has leader ${p.leader}` };
  }
  return { command: { type: "elect-leader", topic, partition, election } };
}

/**
 * Kafka's auto leader rebalance check: the partitions to hand back to their preferred replica. A broker's
 * imbalance is the share of the partitions it prefers that another broker leads; only brokers above
 * `imbalancePercent` are rebalanced, and only partitions whose preferred replica is live and in the ISR.
 */
export function planPreferredRebalance(state: MetadataState, imbalancePercent: number): { topic: string; partition: number }[] {
  const preferredCount = new Map<number, number>();
  const notLeading = new Map<number, { topic: string; partition: number; eligible: boolean }[]>();
  for (const topic of state.topics()) {
    for (const p of topic.partitions) {
      const preferred = p.replicas[0]!;
      preferredCount.set(preferred, (preferredCount.get(preferred) ?? 0) + 1);
      if (p.leader === preferred) continue;
      const eligible = p.isr.includes(preferred) && state.broker(preferred)?.fenced === false;
      const list = notLeading.get(preferred) ?? [];
      list.push({ topic: topic.name, partition: p.partition, eligible });
      notLeading.set(preferred, list);
    }
  }
  const planned: { topic: string; partition: number }[] = [];
  for (const [brokerId, partitions] of notLeading) {
    if ((partitions.length * 100) / preferredCount.get(brokerId)! <= imbalancePercent) continue;
    for (const { topic, partition, eligible } of partitions) if (eligible) planned.push({ topic, partition });
  }
  return planned;
}

/** The outcome every command of a proposal gets when the proposal itself failed. */
function failedProposal(commands: readonly MetadataCommand[], error: unknown): CommandOutcome[] {
  if (!(error instanceof RaftProposalError)) throw error;
  // Retriable codes: Kafka clients retry both, after refreshing metadata to find the controller.
  const errorCode = error.reason === "timeout" ? ErrorCode.REQUEST_TIMED_OUT : ErrorCode.NOT_CONTROLLER;
  return commands.map(() => ({ errorCode, errorMessage: `metadata quorum: ${error.message}` }));
}

function errorMessageOf(outcome: CommandOutcome): string | null {
  return "errorMessage" in outcome ? outcome.errorMessage : null;
}

/**
 * The controller turns admin requests into metadata commands. Any broker plans against its own applied state
 * and proposes; Raft forwards the proposal to the leader, and the state machine re-checks each command at apply
 * time, so concurrent requests (on this node or others) need no serialization: a command that lost a race is a
 * rejected no-op everywhere and its outcome comes back here.
 */
export class Controller {
  constructor(
    private readonly metadata: MetadataLog,
    private readonly defaults: ControllerDefaults,
    private readonly newTopicId: () => string,
  ) {}

  get state(): MetadataState {
    return this.metadata.state;
  }

  private async propose(commands: readonly MetadataCommand[]): Promise<CommandOutcome[]> {
    try {
      return await this.metadata.propose(commands);
    } catch (error) {
      return failedProposal(commands, error);
    }
  }

  /** Proposes one command that must succeed (broker lifecycle); a rejection or failed proposal throws. */
  private async proposeOne(command: MetadataCommand): Promise<CommandOutcome & { errorCode: 0 }> {
    const [outcome] = await this.metadata.propose([command]);
    if (outcome!.errorCode !== ErrorCode.NONE) throw new Error(`${command.type} rejected: ${errorMessageOf(outcome!)}`);
    return outcome as CommandOutcome & { errorCode: 0 };
  }

  async createTopics(requests: readonly TopicCreation[], validateOnly: boolean): Promise<TopicCreationResult[]> {
    const results: TopicCreationResult[] = [];
    const commands: MetadataCommand[] = [];
    const proposedAt: number[] = [];
    const seen = new Set<string>();
    for (const request of requests) {
      if (seen.has(request.name)) {
        results.push({ name: request.name, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Topic ${request.name} appears more than once in the request`, topic: null });
        continue;
      }
      seen.add(request.name);
      const plan = planTopicCreation(this.state, request, this.defaults, this.newTopicId);
      if ("errorCode" in plan) {
        results.push({ name: request.name, errorCode: plan.errorCode, errorMessage: plan.errorMessage, topic: null });
        continue;
      }
      results.push({ name: request.name, errorCode: ErrorCode.NONE, errorMessage: null, topic: plan.preview });
      if (!validateOnly) {
        proposedAt.push(results.length - 1);
        commands.push(plan.command);
      }
    }
    const outcomes = await this.propose(commands);
    outcomes.forEach((outcome, i) => {
      const result = results[proposedAt[i]!]!;
      if (outcome.errorCode === ErrorCode.NONE) result.topic = "topic" in outcome && outcome.topic ? outcome.topic : result.topic;
      else Object.assign(result, { errorCode: outcome.errorCode, errorMessage: errorMessageOf(outcome), topic: null });
    });
    return results;
  }

  /** Creates the topics that do not exist yet with broker defaults (Metadata auto-creation). */
  async ensureTopics(names: readonly string[]): Promise<TopicCreationResult[]> {
    const missing = names.filter((name) => !this.state.topic(name));
    if (missing.length === 0) return [];
    const results = await this.createTopics(
      missing.map((name) => ({ name, numPartitions: -1, replicationFactor: -1, assignments: [], configs: [] })),
      false,
    );
    // A concurrent request may have created the topic first; that is success for auto-creation. Without a quorum
    // the client sees what Kafka answers for a topic still being created, and retries.
    return results.map((r) =>
      r.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS
        ? { ...r, errorCode: ErrorCode.NONE, errorMessage: null }
        : r.errorCode === ErrorCode.NOT_CONTROLLER || r.errorCode === ErrorCode.REQUEST_TIMED_OUT
          ? { ...r, errorCode: ErrorCode.LEADER_NOT_AVAILABLE }
          : r,
    );
  }

  async deleteTopics(targets: readonly { name: string | null; topicId: string | null }[]): Promise<TopicDeletionResult[]> {
    const results: TopicDeletionResult[] = [];
    const commands: MetadataCommand[] = [];
    const proposedAt: number[] = [];
    const deleting = new Set<string>();
    for (const target of targets) {
      const topic = target.name !== null ? this.state.topic(target.name) : target.topicId !== null ? this.state.topicById(target.topicId) : undefined;
      if (!topic) {
        const byId = target.name === null && target.topicId !== null;
        results.push({
          name: target.name,
          topicId: target.topicId,
          errorCode: byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          errorMessage: byId ? `Topic id ${target.topicId} does not exist` : `Topic ${target.name} does not exist`,
        });
        continue;
      }
      results.push({ name: topic.name, topicId: topic.topicId, errorCode: ErrorCode.NONE, errorMessage: null });
      if (!deleting.has(topic.name)) {
        proposedAt.push(results.length - 1);
        commands.push({ type: "delete-topic", name: topic.name });
      }
      deleting.add(topic.name);
    }
    const outcomes = await this.propose(commands);
    outcomes.forEach((outcome, i) => {
      if (outcome.errorCode !== ErrorCode.NONE) Object.assign(results[proposedAt[i]!]!, { errorCode: outcome.errorCode, errorMessage: errorMessageOf(outcome) });
    });
    return results;
  }

  alterTopicConfigs(requests: readonly TopicConfigAlteration[], validateOnly: boolean): Promise<AdminResult[]> {
    return this.planEach(requests, (request) => planTopicConfigAlteration(this.state, request), validateOnly);
  }

  createPartitions(requests: readonly PartitionCreation[], validateOnly: boolean): Promise<AdminResult[]> {
    return this.planEach(requests, (request) => planPartitionCreation(this.state, request), validateOnly);
  }

  /** Plans every named request against the current state; a name given twice is INVALID_REQUEST, as in Kafka. */
  private async planEach<R extends { name: string }>(requests: readonly R[], plan: (request: R) => Plan, validateOnly: boolean): Promise<AdminResult[]> {
    const counts = new Map<string, number>();
    for (const { name } of requests) counts.set(name, (counts.get(name) ?? 0) + 1);
    const results: AdminResult[] = [];
    const commands: MetadataCommand[] = [];
    const proposedAt: number[] = [];
    for (const request of requests) {
      if (counts.get(request.name)! > 1) {
        results.push({ name: request.name, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Duplicate topic name ${request.name} in the request.` });
        continue;
      }
      const outcome = plan(request);
      if ("errorCode" in outcome) {
        results.push({ name: request.name, errorCode: outcome.errorCode, errorMessage: outcome.errorMessage });
        continue;
      }
      results.push({ name: request.name, errorCode: ErrorCode.NONE, errorMessage: null });
      if (!validateOnly && outcome.command) {
        proposedAt.push(results.length - 1);
        commands.push(outcome.command);
      }
    }
    const outcomes = await this.propose(commands);
    outcomes.forEach((outcome, i) => {
      if (outcome.errorCode !== ErrorCode.NONE) Object.assign(results[proposedAt[i]!]!, { errorCode: outcome.errorCode, errorMessage: errorMessageOf(outcome) });
    });
    return results;
  }

  /**
   * Elects leaders for the named partitions, or for every partition when `targets` is null; then, as Kafka
   * does, partitions that needed no election are left out of the answer.
   */
  async electLeaders(election: LeaderElection, targets: readonly { topic: string; partitions: readonly number[] }[] | null): Promise<TopicElectionResult[]> {
    const every = targets === null;
    const wanted = targets ?? [...this.state.topics()].map((t) => ({ topic: t.name, partitions: t.partitions.map((p) => p.partition) }));
    const results: TopicElectionResult[] = [];
    const commands: MetadataCommand[] = [];
    const proposedFor: PartitionElectionResult[] = [];
    for (const { topic, partitions } of wanted) {
      const topicResult: TopicElectionResult = { topic, partitions: [] };
      results.push(topicResult);
      for (const partition of partitions) {
        const plan = planElection(this.state, topic, partition, election);
        const result: PartitionElectionResult = { partition, errorCode: ErrorCode.NONE, errorMessage: null };
        if ("errorCode" in plan) Object.assign(result, { errorCode: plan.errorCode, errorMessage: plan.errorMessage });
        else {
          commands.push(plan.command!);
          proposedFor.push(result);
        }
        topicResult.partitions.push(result);
      }
    }
    const outcomes = await this.propose(commands);
    outcomes.forEach((outcome, i) => {
      if (outcome.errorCode !== ErrorCode.NONE) Object.assign(proposedFor[i]!, { errorCode: outcome.errorCode, errorMessage: errorMessageOf(outcome) });
    });
    if (!every) return results;
    return results
      .map((t) => ({ topic: t.topic, partitions: t.partitions.filter((p) => p.errorCode !== ErrorCode.ELECTION_NOT_NEEDED) }))
      .filter((t) => t.partitions.length > 0);
  }

  /** Registers (or re-registers after a restart) a broker's listener; resolves with its new broker epoch. */
  async registerBroker(registration: BrokerRegistration): Promise<number> {
    const outcome = await this.proposeOne({ type: "register-broker", broker: registration });
    return outcome.brokerEpoch!;
  }

  /** Tells the controller the broker is alive; a fenced broker is unfenced by it. */
  async heartbeat(nodeId: number, brokerEpoch: number): Promise<CommandOutcome> {
    const [outcome] = await this.metadata.propose([{ type: "broker-heartbeat", nodeId, brokerEpoch }]);
    return outcome!;
  }

  /** Fences a broker: its partitions get new leaders from their ISR. A stale epoch makes it a no-op. */
  async fenceBroker(nodeId: number, brokerEpoch: number, reason: "session-timeout" | "controlled-shutdown"): Promise<CommandOutcome> {
    const [outcome] = await this.metadata.propose([{ type: "fence-broker", nodeId, brokerEpoch, reason }]);
    return outcome!;
  }

  /** A partition leader's ISR change; the outcome says whether it applied against the epochs it named. */
  async alterPartition(request: { topic: string; partition: number; isr: readonly number[]; leaderEpoch: number; partitionEpoch: number }): Promise<CommandOutcome> {
    const [outcome] = await this.metadata.propose([{ type: "alter-partition", ...request, isr: [...request.isr] }]);
    return outcome!;
  }

  /** Reserves a block of producer ids in the metadata log, so no id is handed out twice, even across restarts. */
  async allocateProducerIds(count: number): Promise<number> {
    const outcome = await this.proposeOne({ type: "allocate-producer-ids", count });
    return outcome.firstProducerId!;
  }

  /** Sets the cluster id once; when nodes race, the first command wins and the others are rejected no-ops. */
  async initCluster(clusterId: string): Promise<void> {
    if (this.state.clusterId === null) await this.metadata.propose([{ type: "init-cluster", clusterId }]);
  }
}
