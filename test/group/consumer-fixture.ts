/** A KIP-848 consumer group core with a fake clock and a heartbeat with a first join's defaults. */
import {
  ConsumerGroupCoordinator,
  defaultConsumerGroupConfig,
  type ConsumerHeartbeatInput,
  type ConsumerHeartbeatResponse,
  type TopicInfo,
  type TopicLookup,
} from "../../src/group/consumer-group.ts";

const T1 = "00000000-0000-0000-0000-000000000001";

export function lookup(topics: TopicInfo[]): TopicLookup {
  return { byName: (name) => topics.find((t) => t.name === name) };
}

export class Fixture {
  nowMs = 1_000;
  topics: TopicInfo[] = [{ name: "orders", topicId: T1, partitionCount: 6 }];
  private nextId = 0;
  readonly core: ConsumerGroupCoordinator;
  constructor(config: Partial<typeof defaultConsumerGroupConfig> = {}) {
    this.core = new ConsumerGroupCoordinator({
      config: { ...defaultConsumerGroupConfig, heartbeatIntervalMs: 100, sessionTimeoutMs: 1_000, ...config },
      generateUuid: () => `uuid-${++this.nextId}`,
      nowMs: this.nowMs,
    });
  }
  heartbeat(input: Partial<ConsumerHeartbeatInput>): ConsumerHeartbeatResponse {
    const response = this.core.heartbeat(
      "g",
      {
        apiVersion: 0,
        memberId: "",
        memberEpoch: 0,
        instanceId: null,
        rackId: null,
        rebalanceTimeoutMs: input.memberEpoch === undefined || input.memberEpoch === 0 ? 5_000 : -1,
        subscribedTopicNames: input.memberEpoch === undefined || input.memberEpoch === 0 ? ["orders"] : null,
        subscribedTopicRegex: null,
        serverAssignor: null,
        topicPartitions: input.memberEpoch === undefined || input.memberEpoch === 0 ? [] : null,
        clientId: "c",
        clientHost: "/127.0.0.1",
        ...input,
      },
      lookup(this.topics),
      this.nowMs,
    );
    this.core.checkInvariants();
    return response;
  }
}
