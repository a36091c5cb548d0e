import { metadataHandler } from "./03-metadata.ts";
import { apiVersionsHandler } from "./18-api-versions.ts";
import { createTopicsHandler } from "./19-create-topics.ts";
import { deleteTopicsHandler } from "./20-delete-topics.ts";
import { describeClusterHandler } from "./60-describe-cluster.ts";
import type { ApiHandler } from "./handler.ts";

/** Every Kafka API this broker serves; ApiVersions advertises exactly these. */
export const HANDLERS: readonly ApiHandler[] = [
  metadataHandler,
  apiVersionsHandler,
  createTopicsHandler,
  deleteTopicsHandler,
  describeClusterHandler,
];
