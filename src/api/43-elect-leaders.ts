import type { LeaderElection } from "../metadata/records.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import type { ElectLeadersRequest, ElectLeadersResponse } from "../protocol/generated/43-elect-leaders.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

/** Kafka's ElectionType byte; v0 requests carry none and mean PREFERRED. */
const ELECTION_TYPES: Readonly<Record<number, LeaderElection>> = { 0: "preferred", 1: "unclean" };

export const electLeadersHandler: ApiHandler<ElectLeadersRequest, ElectLeadersResponse> = {
  apiKey: ApiKey.ElectLeaders,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, ctx) {
    const election = ELECTION_TYPES[request.electionType];
    if (election === undefined) return electLeadersHandler.errorResponse!(request, ErrorCode.INVALID_REQUEST, ctx);
    const results = await ctx.broker.controller.electLeaders(election, request.topicPartitions);
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      replicaElectionResults: results.map((t) => ({
        topic: t.topic,
        partitionResult: t.partitions.map((p) => ({ partitionId: p.partition, errorCode: p.errorCode, errorMessage: p.errorMessage })),
      })),
    };
  },
  errorResponse(request, errorCode) {
    return {
      errorCode,
      replicaElectionResults: (request.topicPartitions ?? []).map((t) => ({
        topic: t.topic,
        partitionResult: t.partitions.map((partitionId) => ({ partitionId, errorCode, errorMessage: null })),
      })),
    };
  },
};
