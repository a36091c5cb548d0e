import type { BrokerRecord, MetadataCommand, TopicRecord } from "./records.ts";

export interface MetadataSnapshot {
  clusterId: string | null;
  brokers: BrokerRecord[];
  topics: TopicRecord[];
  nextProducerId: number;
}

/**
 * The metadata state machine: pure, deterministic, applied in log order on every node. Commands are
 * validated by the controller before they are proposed, so an invalid command here is a bug and throws.
 */
export class MetadataState {
  clusterId: string | null = null;
  nextProducerId = 0;
  private readonly topicsByName = new Map<string, TopicRecord>();
  private readonly topicsById = new Map<string, TopicRecord>();
  private readonly brokersById = new Map<number, BrokerRecord>();

  static fromSnapshot(snapshot: MetadataSnapshot): MetadataState {
    const state = new MetadataState();
    state.clusterId = snapshot.clusterId;
    state.nextProducerId = snapshot.nextProducerId;
    for (const broker of snapshot.brokers) state.brokersById.set(broker.nodeId, broker);
    for (const topic of snapshot.topics) {
      state.topicsByName.set(topic.name, topic);
      state.topicsById.set(topic.topicId, topic);
    }
    return state;
  }

  toSnapshot(): MetadataSnapshot {
    return {
      clusterId: this.clusterId,
      brokers: [...this.brokersById.values()],
      topics: [...this.topicsByName.values()],
      nextProducerId: this.nextProducerId,
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

  broker(nodeId: number): BrokerRecord | undefined {
    return this.brokersById.get(nodeId);
  }

  brokers(): BrokerRecord[] {
    return [...this.brokersById.values()].sort((a, b) => a.nodeId - b.nodeId);
  }

  apply(command: MetadataCommand): void {
    switch (command.type) {
      case "init-cluster":
        if (this.clusterId !== null) throw new Error(`cluster already initialised as ${this.clusterId}`);
        this.clusterId = command.clusterId;
        return;
      case "register-broker":
        this.brokersById.set(command.broker.nodeId, command.broker);
        return;
      case "create-topic": {
        const { topic } = command;
        if (this.topicsByName.has(topic.name)) throw new Error(`topic ${topic.name} already exists`);
        if (this.topicsById.has(topic.topicId)) throw new Error(`topic id ${topic.topicId} already used`);
        assertPartitionsDense(topic);
        this.topicsByName.set(topic.name, topic);
        this.topicsById.set(topic.topicId, topic);
        return;
      }
      case "delete-topic": {
        const topic = this.requireTopic(command.name);
        this.topicsByName.delete(topic.name);
        this.topicsById.delete(topic.topicId);
        return;
      }
      case "alter-topic-configs": {
        const topic = this.requireTopic(command.name);
        const configs: Record<string, string> = { ...topic.configs };
        for (const [key, value] of Object.entries(command.configs)) {
          if (value === null) delete configs[key];
          else configs[key] = value;
        }
        this.replaceTopic({ ...topic, configs });
        return;
      }
      case "create-partitions": {
        const topic = this.requireTopic(command.name);
        const updated = { ...topic, partitions: [...topic.partitions, ...command.partitions] };
        assertPartitionsDense(updated);
        this.replaceTopic(updated);
        return;
      }
      case "allocate-producer-ids":
        if (command.firstProducerId !== this.nextProducerId || command.count <= 0) {
          throw new Error(`producer id block ${command.firstProducerId}+${command.count} does not follow ${this.nextProducerId}`);
        }
        this.nextProducerId += command.count;
        return;
    }
  }

  private requireTopic(name: string): TopicRecord {
    const topic = this.topicsByName.get(name);
    if (!topic) throw new Error(`topic ${name} does not exist`);
    return topic;
  }

  private replaceTopic(topic: TopicRecord): void {
    this.topicsByName.set(topic.name, topic);
    this.topicsById.set(topic.topicId, topic);
  }
}

function assertPartitionsDense(topic: TopicRecord): void {
  topic.partitions.forEach((p, index) => {
    if (p.partition !== index) throw new Error(`topic ${topic.name}: partition ${p.partition} at position ${index}`);
    if (p.replicas.length === 0) throw new Error(`topic ${topic.name}-${index} has no replicas`);
  });
}
