import { ErrorCode } from "../protocol/error-codes.ts";
import type { ListOffsetsRequest, ListOffsetsResponse } from "../protocol/generated/02-list-offsets.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

/** Kafka's special timestamps in ListOffsets. */
const LATEST = -1;
const EARLIEST = -2;
const MAX_TIMESTAMP = -3;
const EARLIEST_LOCAL = -4;
const LATEST_TIERED = -5;

export const listOffsetsHandler: ApiHandler<ListOffsetsRequest, ListOffsetsResponse> = {
  apiKey: ApiKey.ListOffsets,
  minVersion: 0,
  maxVersion: 10,
  handle(request, ctx) {
    const { replicas } = ctx.broker;
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((p) => {
          const answer = (errorCode: number, offset = -1, timestamp = -1, leaderEpoch = -1) => ({
            partitionIndex: p.partitionIndex,
            errorCode,
            oldStyleOffsets: offset >= 0 ? [offset] : [],
            timestamp,
            offset,
            leaderEpoch,
          });
          const lookup = replicas.lookup(topic.name, p.partitionIndex, p.currentLeaderEpoch);
          if (!lookup.ok) return answer(lookup.errorCode);
          const { replica } = lookup;
          const log = replica.log;
          const epoch = replica.leaderEpoch;
          switch (p.timestamp) {
            case LATEST:
            case LATEST_TIERED:
              return answer(ErrorCode.NONE, log.highWatermark, -1, epoch);
            case EARLIEST:
            case EARLIEST_LOCAL:
              return answer(ErrorCode.NONE, log.logStartOffset, -1, epoch);
            case MAX_TIMESTAMP: {
              const max = log.maxTimestamp();
              return max ? answer(ErrorCode.NONE, max.offset, max.timestamp, epoch) : answer(ErrorCode.NONE, -1, -1, epoch);
            }
            default: {
              if (p.timestamp < 0) return answer(ErrorCode.INVALID_REQUEST);
              const found = log.offsetForTimestamp(p.timestamp);
              if (!found || found.offset >= log.highWatermark) return answer(ErrorCode.NONE, -1, -1, -1);
              return answer(ErrorCode.NONE, found.offset, found.timestamp, epoch);
            }
          }
        }),
      })),
    };
  },
  errorResponse(request, errorCode) {
    return {
      topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) })),
    };
  },
};
