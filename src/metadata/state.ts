import { groupCoordinatorId } from "../group/coordinator-placement.ts";
import type { GroupRecord } from "../group/types.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import { assignReplicas, newPartition, type PartitionLoad } from "./assignment.ts";
import { commandProblem, type BrokerRecord, type CommandOutcome, type MetadataChange, type MetadataCommand, type PartitionRecord, type Placement, type TopicRecord } from "./records.ts";

export interface MetadataSnapshot {
  clusterId: string | null;
  brokers: BrokerRecord[];
  /** [node id, broker epoch] */
  brokerEpochs: [number, number][];
  topics: TopicRecord[];
  nextProducerId: number;
  /** The consumer groups' latest record per key; absent in snapshots from before groups were replicated. */
  groupRecords?: GroupRecord[];
}

export interface Applied {
  outcome: CommandOutcome;
  changes: MetadataChange[];
  /** Set when the record was refused as malformed, or its apply threw and was undone: a bug or a foreign build wrote it. */
  fault?: string;
}

const ACCEPTED: CommandOutcome = { errorCode: ErrorCode.NONE };

function rejected(errorCode: number, errorMessage: string): Applied {
  return { outcome: { errorCode, errorMessage }, changes: [] };
}

/**
 * The metadata state machine: pure, deterministic, applied in Raft log order on every node. Proposers validate
 * against their own (possibly stale) view, so a command that no longer fits is a rejected no-op here, the same
 * on every node. A command no proposer could have built is a fault: refused when malformed, undone when its apply
 * throws, the same on every node, and the log goes on (Kafka's brokers count such records and keep loading).
 */
export class MetadataState implements PartitionLoad {
  clusterId: string | null = null;
  nextProducerId = 0;
  private readonly topicsByName = new Map<string, TopicRecord>();
  private readonly topicsById = new Map<string, TopicRecord>();
  private readonly brokersById = new Map<number, BrokerRecord>();
  private readonly brokerEpochs = new Map<number, number>();
  private readonly leaderCounts = new Map<number, number>();
  private readonly replicaCounts = new Map<number, number>();
  /** Per consumer group, its latest record per key (see keepGroupRecord): what a new coordinator loads it from. */
  private readonly groupRecords = new Map<string, Map<string, GroupRecord>>();
  /** While a command applies: how to undo each of its changes, in the order they were made. */
  private undo: (() => void)[] | null = null;
  /** liveBrokers(), kept until a broker record changes: every topic creation asks for it, twice. */
  private liveBrokerList: readonly BrokerRecord[] | null = null;

  static fromSnapshot(snapshot: MetadataSnapshot): MetadataState {
    const state = new MetadataState();
    state.restore(snapshot);
    return state;
  }

  /** Replaces everything in place, so holders of this object see the restored state. */
  restore(snapshot: MetadataSnapshot): void {
    this.topicsByName.clear();
    this.topicsById.clear();
    this.brokersById.clear();
    this.brokerEpochs.clear();
    this.leaderCounts.clear();
    this.replicaCounts.clear();
    this.groupRecords.clear();
    this.liveBrokerList = null;
    this.clusterId = snapshot.clusterId;
    this.nextProducerId = snapshot.nextProducerId;
    for (const broker of snapshot.brokers) this.brokersById.set(broker.nodeId, broker);
    for (const [nodeId, epoch] of snapshot.brokerEpochs) this.brokerEpochs.set(nodeId, epoch);
    for (const topic of snapshot.topics) this.addTopic(topic);
    for (const record of snapshot.groupRecords ?? []) this.keepGroupRecord(record);
  }

  toSnapshot(): MetadataSnapshot {
    return {
      clusterId: this.clusterId,
      brokers: [...this.brokersById.values()],
      brokerEpochs: [...this.brokerEpochs],
      topics: [...this.topicsByName.values()],
      nextProducerId: this.nextProducerId,
      groupRecords: [...this.groupRecords.values()].flatMap((records) => [...records.values()]),
    };
  }

  topic(name: string): TopicRecord | undefined {
    return this.topicsByName.get(name);
  }

  topicById(topicId: string): TopicRecord | undefined {
    return this.topicsById.get(topicId);
  }

  topics(): IterableIterator<TopicRecord> {
    return this.topicsByName.values();
  }

  topicCount(): number {
    return this.topicsByName.size;
  }

  broker(nodeId: number): BrokerRecord | undefined {
    return this.brokersById.get(nodeId);
  }

  brokers(): BrokerRecord[] {
    return [...this.brokersById.values()].sort((a, b) => a.nodeId - b.nodeId);
  }

  /** The log index of the broker's latest registration, or -1 when it never registered. */
  brokerEpoch(nodeId: number): number {
    return this.brokerEpochs.get(nodeId) ?? -1;
  }

  liveBrokers(): readonly BrokerRecord[] {
    return (this.liveBrokerList ??= this.brokers().filter((b) => !b.fenced));
  }

  /** The live broker that coordinates the group (see coordinator-placement.ts); undefined while none is live. */
  groupCoordinator(groupId: string): BrokerRecord | undefined {
    const live = this.liveBrokers();
    const id = groupCoordinatorId(groupId, live.map((b) => b.nodeId));
    return live.find((b) => b.nodeId === id);
  }

  /** Groups that have records. */
  groupIds(): string[] {
    return [...this.groupRecords.keys()];
  }

  /** A group's latest record per key, in the order they were first written. */
  groupRecordsOf(groupId: string): GroupRecord[] {
    return [...(this.groupRecords.get(groupId)?.values() ?? [])];
  }

  leaders(nodeId: number): number {
    return this.leaderCounts.get(nodeId) ?? 0;
  }

  replicas(nodeId: number): number {
    return this.replicaCounts.get(nodeId) ?? 0;
  }

  /**
   * Applies one command at Raft log index `index` (a registration's index is the broker's epoch), as a unit: it
   * never throws, and a faulty command leaves the state as it was. The command is checked, since the log is data.
   */
  apply(command: unknown, index: number): Applied {
    const undo: (() => void)[] = [];
    this.undo = undo;
    try {
      const problem = commandProblem(command);
      if (problem !== null) return { ...rejected(ErrorCode.UNKNOWN_SERVER_ERROR, `malformed metadata record: ${problem}`), fault: problem };
      return this.applyCommand(command as MetadataCommand, index);
    } catch (error) {
      for (const step of undo.reverse()) step();
      const fault = `applying it threw ${String(error)}`;
      return { ...rejected(ErrorCode.UNKNOWN_SERVER_ERROR, `metadata record not applied: ${fault}`), fault };
    } finally {
      this.undo = null;
    }
  }

  private applyCommand(command: MetadataCommand, index: number): Applied {
    switch (command.type) {
      case "init-cluster": {
        if (this.clusterId !== null) return rejected(ErrorCode.INCONSISTENT_CLUSTER_ID, `cluster already initialised as ${this.clusterId}`);
        this.undo?.push(() => (this.clusterId = null));
        this.clusterId = command.clusterId;
        return { outcome: ACCEPTED, changes: [command] };
      }
      case "register-broker": {
        const broker: BrokerRecord = { ...command.broker, fenced: false };
        this.put(this.brokersById, broker.nodeId, broker);
        this.put(this.brokerEpochs, broker.nodeId, index);
        const changes: MetadataChange[] = [{ type: "broker", broker, brokerEpoch: index }, ...this.electLeaderless(broker.nodeId)];
        return { outcome: { errorCode: ErrorCode.NONE, brokerEpoch: index }, changes };
      }
      case "broker-heartbeat": {
        const broker = this.brokersById.get(command.nodeId);
        if (!broker) return rejected(ErrorCode.BROKER_ID_NOT_REGISTERED, `broker ${command.nodeId} is not registered`);
        const epoch = this.brokerEpoch(broker.nodeId);
        if (epoch !== command.brokerEpoch) {
          return rejected(ErrorCode.STALE_BROKER_EPOCH, `broker ${command.nodeId} has epoch ${epoch}, not ${command.brokerEpoch}`);
        }
        const changes: MetadataChange[] = [{ type: "broker-heartbeat", nodeId: broker.nodeId, brokerEpoch: epoch }];
        if (broker.fenced) {
          const unfenced = { ...broker, fenced: false };
          this.put(this.brokersById, broker.nodeId, unfenced);
          changes.push({ type: "broker", broker: unfenced, brokerEpoch: epoch }, ...this.electLeaderless(broker.nodeId));
        }
        return { outcome: ACCEPTED, changes };
      }
      case "fence-broker": {
        const broker = this.brokersById.get(command.nodeId);
        if (!broker || this.brokerEpoch(broker.nodeId) !== command.brokerEpoch) {
          return rejected(ErrorCode.STALE_BROKER_EPOCH, `broker ${command.nodeId} re-registered since epoch ${command.brokerEpoch}`);
        }
        if (broker.fenced) return { outcome: ACCEPTED, changes: [] };
        const fenced = { ...broker, fenced: true };
        this.put(this.brokersById, broker.nodeId, fenced);
        return { outcome: ACCEPTED, changes: [{ type: "broker", broker: fenced, brokerEpoch: command.brokerEpoch }, ...this.moveLeadershipAway(broker.nodeId)] };
      }
      case "create-topic": {
        if (this.topicsByName.has(command.name)) return rejected(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${command.name}' already exists.`);
        if (this.topicsById.has(command.topicId)) return rejected(ErrorCode.UNKNOWN_SERVER_ERROR, `topic id ${command.topicId} is already used`);
        const partitions = this.place(command.placement, 0);
        if ("errorCode" in partitions) return rejected(partitions.errorCode, partitions.errorMessage);
        const topic: TopicRecord = { name: command.name, topicId: command.topicId, partitions, configs: command.configs };
        assertPartitionsDense(topic);
        this.addTopic(topic);
        return { outcome: { errorCode: ErrorCode.NONE, topic }, changes: [{ type: "create-topic", topic }] };
      }
      case "delete-topic": {
        const topic = this.topicsByName.get(command.name);
        if (!topic) return rejected(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic ${command.name} does not exist`);
        this.removeTopic(topic);
        return { outcome: ACCEPTED, changes: [command] };
      }
      case "alter-topic-configs": {
        const topic = this.topicsByName.get(command.name);
        if (!topic) return rejected(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic ${command.name} does not exist`);
        const configs: Record<string, string> = { ...topic.configs };
        for (const [key, value] of Object.entries(command.configs)) {
          if (value === null) delete configs[key];
          else configs[key] = value;
        }
        this.replaceTopic(topic, { ...topic, configs });
        return { outcome: ACCEPTED, changes: [command] };
      }
      case "create-partitions": {
        const topic = this.topicsByName.get(command.name);
        if (!topic) return rejected(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic ${command.name} does not exist`);
        if (topic.partitions.length !== command.firstPartition) {
          return rejected(ErrorCode.INVALID_PARTITIONS, `Topic ${command.name} now has ${topic.partitions.length} partition(s); a concurrent request changed it.`);
        }
        const partitions = this.place(command.placement, command.firstPartition);
        if ("errorCode" in partitions) return rejected(partitions.errorCode, partitions.errorMessage);
        const updated = { ...topic, partitions: [...topic.partitions, ...partitions] };
        assertPartitionsDense(updated);
        this.replaceTopic(topic, updated);
        return { outcome: ACCEPTED, changes: [{ type: "create-partitions", name: topic.name, partitions }] };
      }
      case "alter-partition":
        return this.alterPartition(command);
      case "elect-leader":
        return this.electLeader(command);
      case "group-records":
        return this.applyGroupRecords(command);
      case "allocate-producer-ids": {
        const firstProducerId = this.nextProducerId;
        this.undo?.push(() => (this.nextProducerId = firstProducerId));
        this.nextProducerId += command.count;
        return { outcome: { errorCode: ErrorCode.NONE, firstProducerId }, changes: [{ type: "allocate-producer-ids", firstProducerId, count: command.count }] };
      }
    }
  }

  /**
   * Keeps the records of the groups the proposer coordinates now; the others' are refused (NOT_COORDINATOR): the
   * group moved while they were in flight, and its new coordinator's records must not be overwritten.
   */
  private applyGroupRecords(command: MetadataCommand & { type: "group-records" }): Applied {
    // One lookup per group: a command carries a record per committed partition, and the lookup sorts the brokers.
    const coordinated = new Map<string, boolean>();
    const kept: GroupRecord[] = [];
    for (const record of command.records) {
      let mine = coordinated.get(record.groupId);
      if (mine === undefined) coordinated.set(record.groupId, (mine = this.groupCoordinator(record.groupId)?.nodeId === command.coordinatorId));
      if (!mine) continue;
      this.keepGroupRecord(record);
      kept.push(record);
    }
    const refused = [...coordinated].filter(([, mine]) => !mine).map(([groupId]) => groupId);
    const changes: MetadataChange[] = kept.length > 0 ? [{ type: "group-records", coordinatorId: command.coordinatorId, incarnation: command.incarnation, records: kept }] : [];
    if (refused.length === 0) return { outcome: ACCEPTED, changes };
    const errorMessage = `broker ${command.coordinatorId} does not coordinate ${refused.join(", ")}`;
    return { outcome: { errorCode: ErrorCode.NOT_COORDINATOR, errorMessage }, changes };
  }

  private keepGroupRecord(record: GroupRecord): void {
    if (record.type === "group-deleted") {
      this.remove(this.groupRecords, record.groupId);
      return;
    }
    let records = this.groupRecords.get(record.groupId);
    if (records === undefined) {
      records = new Map();
      this.put(this.groupRecords, record.groupId, records);
    }
    const key = record.type === "group" ? "group" : record.type === "consumer-group" ? "consumer-group" : `offset\0${record.topic}\0${record.partition}`;
    if (record.type === "offset-deleted" || (record.type === "consumer-group" && record.group === null)) this.remove(records, key);
    else this.put(records, key, record);
  }

  /** Kafka's AlterPartition checks: the proposer must lead at the current epochs; new members must be live replicas. */
  private alterPartition(command: MetadataCommand & { type: "alter-partition" }): Applied {
    const topic = this.topicsByName.get(command.topic);
    const p = topic?.partitions[command.partition];
    if (!topic || !p) return rejected(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${command.topic}-${command.partition} does not exist`);
    if (command.leaderEpoch !== p.leaderEpoch) {
      return rejected(ErrorCode.FENCED_LEADER_EPOCH, `leader epoch ${command.leaderEpoch} is not the current ${p.leaderEpoch}`);
    }
    if (command.partitionEpoch !== p.partitionEpoch) {
      return rejected(ErrorCode.INVALID_UPDATE_VERSION, `partition epoch ${command.partitionEpoch} is not the current ${p.partitionEpoch}`);
    }
    if (!command.isr.includes(p.leader) || command.isr.some((id) => !p.replicas.includes(id)) || new Set(command.isr).size !== command.isr.length) {
      return rejected(ErrorCode.INVALID_REQUEST, `ISR ${command.isr} must hold the leader ${p.leader} and only replicas ${p.replicas}`);
    }
    const joining = command.isr.filter((id) => !p.isr.includes(id));
    if (joining.some((id) => !this.isLive(id))) return rejected(ErrorCode.INELIGIBLE_REPLICA, `replicas ${joining} are not all live`);
    const next: PartitionRecord = { ...p, isr: [...command.isr], partitionEpoch: p.partitionEpoch + 1 };
    this.replaceTopic(topic, { ...topic, partitions: topic.partitions.map((q) => (q === p ? next : q)) });
    return { outcome: ACCEPTED, changes: [{ type: "partition-leaders", name: topic.name, partitions: [next] }] };
  }

  /**
   * Kafka's ElectLeaders checks, made again at apply time because the proposer's view may be stale. A preferred
   * election keeps the ISR; an unclean one restarts it at the new leader, whose log becomes the partition's.
   */
  private electLeader(command: MetadataCommand & { type: "elect-leader" }): Applied {
    const topic = this.topicsByName.get(command.topic);
    const p = topic?.partitions[command.partition];
    if (!topic || !p) return rejected(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${command.topic}-${command.partition} does not exist`);
    let next: PartitionRecord;
    if (command.election === "preferred") {
      const preferred = p.replicas[0]!;
      if (p.leader === preferred) return rejected(ErrorCode.ELECTION_NOT_NEEDED, `broker ${preferred} already leads ${topic.name}-${p.partition}`);
      if (!p.isr.includes(preferred) || !this.isLive(preferred)) {
        return rejected(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE, `preferred replica ${preferred} of ${topic.name}-${p.partition} is not a live ISR member`);
      }
      next = { ...p, leader: preferred, leaderEpoch: p.leaderEpoch + 1, partitionEpoch: p.partitionEpoch + 1 };
    } else {
      if (p.leader !== -1) return rejected(ErrorCode.ELECTION_NOT_NEEDED, `${topic.name}-${p.partition} has leader ${p.leader}`);
      if (topic.configs["unclean.leader.election.enable"] !== "true") {
        return rejected(ErrorCode.ELECTION_NOT_NEEDED, `unclean.leader.election.enable is false for ${topic.name}`);
      }
      const leader = p.replicas.find((id) => this.isLive(id));
      if (leader === undefined) return rejected(ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE, `no replica of ${topic.name}-${p.partition} is live`);
      next = { ...p, leader, isr: [leader], leaderEpoch: p.leaderEpoch + 1, partitionEpoch: p.partitionEpoch + 1 };
    }
    this.replaceTopic(topic, { ...topic, partitions: topic.partitions.map((q) => (q === p ? next : q)) });
    return { outcome: ACCEPTED, changes: [{ type: "partition-leaders", name: topic.name, partitions: [next] }] };
  }

  private place(placement: Placement, firstPartition: number): PartitionRecord[] | { errorCode: number; errorMessage: string } {
    if (placement.kind === "explicit") {
      const unknown = placement.replicas.flat().find((id) => !this.brokersById.has(id));
      if (unknown !== undefined) return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `Broker ${unknown} is not registered` };
      return placement.replicas.map((replicas, i) => newPartition(firstPartition + i, replicas));
    }
    const live = this.liveBrokers();
    if (placement.replicationFactor > live.length) {
      return {
        errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
        errorMessage: `Unable to replicate the partition ${placement.replicationFactor} time(s): The target replication factor of ${placement.replicationFactor} cannot be reached because only ${live.length} broker(s) are registered.`,
      };
    }
    return assignReplicas(this, live, firstPartition, placement.count, placement.replicationFactor);
  }

  /**
   * A fenced or shut-down broker leaves the ISR of its partitions (unless it is the last member, as in Kafka) and
   * hands leadership to the next live ISR member, or to nobody (-1); every leader change bumps the leader epoch.
   */
  private moveLeadershipAway(nodeId: number): MetadataChange[] {
    return this.rewritePartitions((p) => {
      if (p.leader !== nodeId && !p.isr.includes(nodeId)) return p;
      const isr = p.isr.length > 1 ? p.isr.filter((id) => id !== nodeId) : p.isr;
      const leader = p.leader !== nodeId ? p.leader : (isr.find((id) => id !== nodeId && this.isLive(id)) ?? -1);
      return { ...p, isr, leader, leaderEpoch: leader !== p.leader ? p.leaderEpoch + 1 : p.leaderEpoch, partitionEpoch: p.partitionEpoch + 1 };
    });
  }

  /** A broker back in service takes over the partitions that had no leader and keep it in their ISR. */
  private electLeaderless(nodeId: number): MetadataChange[] {
    return this.rewritePartitions((p) =>
      p.leader === -1 && p.isr.includes(nodeId) ? { ...p, leader: nodeId, leaderEpoch: p.leaderEpoch + 1, partitionEpoch: p.partitionEpoch + 1 } : p,
    );
  }

  private isLive(nodeId: number): boolean {
    const broker = this.brokersById.get(nodeId);
    return broker !== undefined && !broker.fenced;
  }

  private rewritePartitions(rewrite: (p: PartitionRecord) => PartitionRecord): MetadataChange[] {
    const changes: MetadataChange[] = [];
    for (const topic of [...this.topicsByName.values()]) {
      const changed: PartitionRecord[] = [];
      const partitions = topic.partitions.map((p) => {
        const next = rewrite(p);
        if (next !== p) changed.push(next);
        return next;
      });
      if (changed.length === 0) continue;
      this.replaceTopic(topic, { ...topic, partitions });
      changes.push({ type: "partition-leaders", name: topic.name, partitions: changed });
    }
    return changes;
  }

  private addTopic(topic: TopicRecord): void {
    this.put(this.topicsByName, topic.name, topic);
    this.put(this.topicsById, topic.topicId, topic);
    this.count(topic, 1);
  }

  private removeTopic(topic: TopicRecord): void {
    this.remove(this.topicsByName, topic.name);
    this.remove(this.topicsById, topic.topicId);
    this.count(topic, -1);
  }

  /** Keeps the topic's place in iteration order, so listings stay stable across config changes. */
  private replaceTopic(previous: TopicRecord, topic: TopicRecord): void {
    this.count(previous, -1);
    this.put(this.topicsByName, topic.name, topic);
    this.put(this.topicsById, topic.topicId, topic);
    this.count(topic, 1);
  }

  private count(topic: TopicRecord, sign: 1 | -1): void {
    for (const p of topic.partitions) {
      if (p.leader !== -1) this.put(this.leaderCounts, p.leader, this.leaders(p.leader) + sign);
      for (const r of p.replicas) this.put(this.replicaCounts, r, this.replicas(r) + sign);
    }
  }

  /** Every change to the maps goes through put and remove, which keep the undo of the command being applied. */
  private put<K, V>(map: Map<K, V>, key: K, value: V): void {
    if (this.undo) {
      if (map.has(key)) {
        const previous = map.get(key) as V;
        this.undo.push(() => this.changed(map.set(key, previous)));
      } else {
        this.undo.push(() => {
          map.delete(key);
          this.changed(map);
        });
      }
    }
    this.changed(map.set(key, value));
  }

  /** An undone removal puts the key back last in iteration order: the same on every node. */
  private remove<K, V>(map: Map<K, V>, key: K): void {
    if (!map.has(key)) return;
    const previous = map.get(key) as V;
    this.undo?.push(() => this.changed(map.set(key, previous)));
    map.delete(key);
    this.changed(map);
  }

  private changed<K, V>(map: Map<K, V>): void {
    if (map === this.brokersById) this.liveBrokerList = null;
  }
}

function assertPartitionsDense(topic: TopicRecord): void {
  topic.partitions.forEach((p, index) => {
    if (p.partition !== index) throw new Error(`topic ${topic.name}: partition ${p.partition} at position ${index}`);
    if (p.replicas.length === 0) throw new Error(`topic ${topic.name}-${index} has no replicas`);
  });
}
