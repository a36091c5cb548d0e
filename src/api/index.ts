import { produceHandler } from "./00-produce.ts";
import { fetchHandler } from "./01-fetch.ts";
import { listOffsetsHandler } from "./02-list-offsets.ts";
import { metadataHandler } from "./03-metadata.ts";
import { offsetCommitHandler } from "./08-offset-commit.ts";
import { offsetFetchHandler } from "./09-offset-fetch.ts";
import { findCoordinatorHandler } from "./10-find-coordinator.ts";
import { joinGroupHandler } from "./11-join-group.ts";
import { heartbeatHandler } from "./12-heartbeat.ts";
import { leaveGroupHandler } from "./13-leave-group.ts";
import { syncGroupHandler } from "./14-sync-group.ts";
import { describeGroupsHandler } from "./15-describe-groups.ts";
import { listGroupsHandler } from "./16-list-groups.ts";
import { apiVersionsHandler } from "./18-api-versions.ts";
import { createTopicsHandler } from "./19-create-topics.ts";
import { deleteTopicsHandler } from "./20-delete-topics.ts";
import { deleteRecordsHandler } from "./21-delete-records.ts";
import { initProducerIdHandler } from "./22-init-producer-id.ts";
import { offsetForLeaderEpochHandler } from "./23-offset-for-leader-epoch.ts";
import { describeConfigsHandler } from "./32-describe-configs.ts";
import { alterConfigsHandler } from "./33-alter-configs.ts";
import { describeLogDirsHandler } from "./35-describe-log-dirs.ts";
import { createPartitionsHandler } from "./37-create-partitions.ts";
import { deleteGroupsHandler } from "./42-delete-groups.ts";
import { electLeadersHandler } from "./43-elect-leaders.ts";
import { incrementalAlterConfigsHandler } from "./44-incremental-alter-configs.ts";
import { offsetDeleteHandler } from "./47-offset-delete.ts";
import { describeClusterHandler } from "./60-describe-cluster.ts";
import { describeProducersHandler } from "./61-describe-producers.ts";
import { consumerGroupHeartbeatHandler } from "./68-consumer-group-heartbeat.ts";
import { consumerGroupDescribeHandler } from "./69-consumer-group-describe.ts";
import type { ApiHandler } from "./handler.ts";

/** Every Kafka API this broker serves; ApiVersions advertises exactly these. */
export const HANDLERS: readonly ApiHandler[] = [
  produceHandler,
  fetchHandler,
  listOffsetsHandler,
  metadataHandler,
  offsetCommitHandler,
  offsetFetchHandler,
  findCoordinatorHandler,
  joinGroupHandler,
  heartbeatHandler,
  leaveGroupHandler,
  syncGroupHandler,
  describeGroupsHandler,
  listGroupsHandler,
  apiVersionsHandler,
  createTopicsHandler,
  deleteTopicsHandler,
  deleteRecordsHandler,
  initProducerIdHandler,
  offsetForLeaderEpochHandler,
  describeConfigsHandler,
  alterConfigsHandler,
  describeLogDirsHandler,
  createPartitionsHandler,
  deleteGroupsHandler,
  electLeadersHandler,
  incrementalAlterConfigsHandler,
  offsetDeleteHandler,
  describeClusterHandler,
  describeProducersHandler,
  consumerGroupHeartbeatHandler,
  consumerGroupDescribeHandler,
];
