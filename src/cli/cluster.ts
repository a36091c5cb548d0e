/** `chronik cluster`: the cluster id, the controller and the brokers. */
import { KafkaError } from "../client/connection.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import { ApiKey, type DescribeClusterResponse } from "../protocol/generated/index.ts";
import { BOOTSTRAP_FLAG, JSON_FLAG } from "./args.ts";
import { table, writeJson, writeStdout, type CliCommand } from "./output.ts";

const BROKERS_ENDPOINT_TYPE = 1;

const cluster: CliCommand = {
  spec: {
    name: "cluster",
    summary: "Show the cluster id, the controller and the brokers (DescribeCluster, or Metadata on older brokers).",
    positionals: [],
    flags: [JSON_FLAG, BOOTSTRAP_FLAG],
  },
  async run({ connect, json }) {
    const session = await connect();
    const connection = session.bootstrap;
    let info: { clusterId: string | null; controllerId: number; brokers: { nodeId: number; host: string; port: number; rack: string | null }[] };
    let supportsDescribeCluster = true;
    try {
      connection.pickVersion(ApiKey.DescribeCluster, 1);
    } catch {
      supportsDescribeCluster = false;
    }
    if (supportsDescribeCluster) {
      const version = connection.pickVersion(ApiKey.DescribeCluster, 1);
      const response = await connection.request<DescribeClusterResponse>(ApiKey.DescribeCluster, version, { includeClusterAuthorizedOperations: false, endpointType: BROKERS_ENDPOINT_TYPE });
      if (response.errorCode !== ErrorCode.NONE) throw new KafkaError(response.errorCode, `describe cluster${response.errorMessage ? ` (${response.errorMessage})` : ""}`);
      info = { clusterId: response.clusterId, controllerId: response.controllerId, brokers: response.brokers.map((b) => ({ nodeId: b.brokerId, host: b.host, port: b.port, rack: b.rack })) };
    } else {
      const response = await session.metadata([]);
      info = { clusterId: response.clusterId, controllerId: response.controllerId, brokers: response.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack })) };
    }
    info.brokers.sort((a, b) => a.nodeId - b.nodeId);
    if (json) {
      await writeJson(info);
      return 0;
    }
    let text = `Cluster id: ${info.clusterId ?? "(none)"}\nController: ${info.controllerId}\n\n`;
    text += table(["NODE", "HOST", "PORT", "RACK"], info.brokers.map((b) => [b.nodeId, b.host, b.port, b.rack ?? "-"]));
    await writeStdout(text);
    return 0;
  },
};

export const CLUSTER_COMMANDS: CliCommand[] = [cluster];
