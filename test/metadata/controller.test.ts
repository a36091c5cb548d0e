import { expect, test } from "bun:test";
import { planTopicCreation, type TopicCreation } from "../../src/metadata/controller.ts";
import { MetadataState } from "../../src/metadata/state.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";

function oneBroker(): MetadataState {
  const state = new MetadataState();
  state.apply({ type: "register-broker", broker: { nodeId: 1, host: "127.0.0.1", port: 9092, rack: null } }, 1);
  return state;
}

const request = (name: string): TopicCreation => ({ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] });
const defaults = { defaultPartitions: 1, defaultReplicationFactor: 1 };

test("topic names: Kafka's illegal names and its own metadata log's name are refused with Kafka's errors", () => {
  const state = oneBroker();
  const plan = (name: string) => planTopicCreation(state, request(name), defaults, () => "id");
  expect(plan("orders")).toHaveProperty("command");
  for (const name of ["", ".", "..", "a/b", "x".repeat(250)]) expect(plan(name)).toMatchObject({ errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION });
  expect(plan("__cluster_metadata")).toEqual({
    errorCode: ErrorCode.INVALID_REQUEST,
    errorMessage: "Creation of internal topic __cluster_metadata is prohibited.",
  });
});
