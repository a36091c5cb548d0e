import { ErrorCode } from "../protocol/error-codes.ts";
import type { DescribeClusterRequest, DescribeClusterResponse } from "../protocol/generated/60-describe-cluster.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

const BROKER_ENDPOINT = 1;

export const describeClusterHandler: ApiHandler<DescribeClusterRequest, DescribeClusterResponse> = {
  apiKey: ApiKey.DescribeCluster,
  minVersion: 0,
  maxVersion: 1,
  handle(request, ctx) {
    const { broker } = ctx;
    if (request.endpointType !== BROKER_ENDPOINT) {
      return {
        errorCode: ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
        errorMessage: `Chronik brokers answer only endpoint type ${BROKER_ENDPOINT} (brokers)`,
        endpointType: request.endpointType,
        clusterId: broker.metadata.state.clusterId ?? "",
      };
    }
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      endpointType: BROKER_ENDPOINT,
      clusterId: broker.metadata.state.clusterId ?? "",
      controllerId: broker.controllerId(),
      brokers: broker.metadata.state
        .brokers()
        .filter((b) => !b.fenced)
        .map((b) => ({ brokerId: b.nodeId, host: b.host, port: b.port, rack: b.rack })),
      clusterAuthorizedOperations: -2147483648,
    };
  },
};
