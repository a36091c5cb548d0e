/**
 * Chaos workload group member through kafkajs: subscribes to TOPIC in GROUP (classic protocol) from the earliest
 * offset until SIGTERM, printing the lines of test/chaos/py/group_consumer.py: "assign P" for every partition of
 * each assignment (it starts there from the group's commit, which may be below what it read before) and
 * "read P O V" for every record. An offset is resolved for commit only once its line is written, so a SIGKILL
 * can make the group read a record again but never skip one this member did not print.
 *
 *   bun test/chaos/js/group-consumer.ts BOOTSTRAP TOPIC GROUP
 */
import { chaosKafka, writeLines } from "./kafka-client.ts";

const [bootstrap, topic, group] = process.argv.slice(2);
if (!bootstrap || !topic || !group) throw new Error("usage: group-consumer.ts BOOTSTRAP TOPIC GROUP");
const CRASHED_EXIT_CODE = 3;

const consumer = chaosKafka(bootstrap, `${group}-member`).consumer({
  groupId: group,
  sessionTimeout: 10_000,
  rebalanceTimeout: 20_000,
  heartbeatInterval: 1_000,
  maxWaitTimeInMs: 500,
  metadataMaxAge: 5_000,
});

// kafkajs calls instrumentation listeners within the emit, after the sync and before fetching for the assignment.
consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
  writeLines((payload.memberAssignment[topic] ?? []).map((partition) => `assign ${partition}`));
});
consumer.on(consumer.events.CRASH, ({ payload }) => {
  if (payload.restart) return;
  process.stderr.write(`consumer crashed for good, exiting: ${payload.error.stack}\n`);
  process.exit(CRASHED_EXIT_CODE);
});

// No disconnect on SIGTERM: kafkajs's stop can land while its fetch manager replaces fetchers after a leader change,
// and the new fetchers then loop on empty fetches without yielding, starving every timer (100% CPU until SIGKILL).
// Nothing is lost: kafkajs commits the resolved offsets after every batch, and every read line is already written.
process.on("SIGTERM", () => process.exit(0));

await consumer.connect();
await consumer.subscribe({ topics: [topic], fromBeginning: true });
await consumer.run({
  eachBatchAutoResolve: false,
  autoCommitInterval: 1_000,
  eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
    const last = batch.messages.at(-1);
    if (!last) return;
    writeLines(batch.messages.map((m) => `read ${batch.partition} ${m.offset} ${m.value?.toString() ?? ""}`));
    resolveOffset(last.offset);
    await heartbeat();
  },
});
