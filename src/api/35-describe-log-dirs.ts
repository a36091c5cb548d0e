import { statfsSync } from "node:fs";
import { ErrorCode } from "../protocol/error-codes.ts";
import type { DescribeLogDirsRequest, DescribeLogDirsResponse, DescribeLogDirsResponseDescribeLogDirsTopic } from "../protocol/generated/35-describe-log-dirs.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { Encodable } from "../protocol/encodable.ts";
import type { ApiHandler } from "./handler.ts";

/** Chronik keeps every partition in one log dir, the data dir; a single node has no replica lag. */
export const describeLogDirsHandler: ApiHandler<DescribeLogDirsRequest, DescribeLogDirsResponse> = {
  apiKey: ApiKey.DescribeLogDirs,
  minVersion: 0,
  maxVersion: 4,
  handle(request, ctx) {
    const { logs, replicas } = ctx.broker;
    const wanted = request.topics === null ? null : new Map(request.topics.map((t) => [t.topic, new Set(t.partitions)]));
    const byTopic = new Map<string, Encodable<DescribeLogDirsResponseDescribeLogDirsTopic>>();
    const add = (name: string, partitionIndex: number, partitionSize: number) => {
      if (wanted !== null && !wanted.get(name)?.has(partitionIndex)) return;
      let topic = byTopic.get(name);
      if (!topic) byTopic.set(name, (topic = { name, partitions: [] }));
      topic.partitions.push({ partitionIndex, partitionSize, offsetLag: 0, isFutureKey: false });
    };
    for (const partitionLog of logs.all()) add(partitionLog.topic, partitionLog.partition, partitionLog.sizeBytes);
    // A partition not used yet has no log file, and is empty.
    for (const { topic, partition } of replicas.unopenedPartitions()) add(topic, partition, 0);
    const disk = statfsSync(logs.dataDir);
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      results: [
        {
          errorCode: ErrorCode.NONE,
          logDir: logs.dataDir,
          topics: [...byTopic.values()],
          totalBytes: disk.blocks * disk.bsize,
          usableBytes: disk.bavail * disk.bsize,
        },
      ],
    };
  },
};
