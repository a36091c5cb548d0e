import { ErrorCode } from "../protocol/error-codes.ts";
import type { OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse } from "../protocol/generated/23-offset-for-leader-epoch.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { UNDEFINED_EPOCH, UNDEFINED_OFFSET } from "../replication/leader-epoch-cache.ts";
import type { ApiHandler } from "./handler.ts";

/**
 * Where an epoch ended in the leader's log (KIP-101, KIP-320): a consumer validates its position after a leader
 * change by asking for the end of the epoch of the last record it read, and truncates to it if the log diverged.
 * Only the leader answers; its currentLeaderEpoch check fences clients with stale metadata.
 */
export const offsetForLeaderEpochHandler: ApiHandler<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse> = {
  apiKey: ApiKey.OffsetForLeaderEpoch,
  minVersion: 0,
  maxVersion: 4,
  handle(request, ctx) {
    const { replicas } = ctx.broker;
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((topic) => ({
        topic: topic.topic,
        partitions: topic.partitions.map((p) => {
          const lookup = replicas.lookup(topic.topic, p.partition, p.currentLeaderEpoch);
          if (!lookup.ok) return { errorCode: lookup.errorCode, partition: p.partition, leaderEpoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_OFFSET };
          const { replica } = lookup;
          const end = replica.epochCache.endOffsetFor(p.leaderEpoch, replica.log.logEndOffset);
          return { errorCode: ErrorCode.NONE, partition: p.partition, leaderEpoch: end.epoch, endOffset: end.endOffset };
        }),
      })),
    };
  },
  errorResponse(request, errorCode) {
    return {
      topics: request.topics.map((t) => ({
        topic: t.topic,
        partitions: t.partitions.map((p) => ({ errorCode, partition: p.partition, leaderEpoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_OFFSET })),
      })),
    };
  },
};
