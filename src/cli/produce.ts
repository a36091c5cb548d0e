/** `chronik produce`: lines from stdin become records, batched per partition leader. */
import type { RecordHeaderInput } from "../client/batch-accumulator.ts";
import { BufferFullError, Producer, type Acks, type DeliveryReport } from "../client/producer.ts";
import { BOOTSTRAP_FLAG, UsageError, intFlag, keyValueFlag, stringFlag } from "./args.ts";
import type { CliCommand } from "./output.ts";
import { partitionForKey } from "./partitioner.ts";
import { CliError, describeError } from "./session.ts";

const LINGER_MS = 5;
const PROGRESS_INTERVAL_MS = 250;
const CONNECTION_CHECK_INTERVAL_MS = 100;
/** Unkeyed records stay on one partition for this many records, so batches fill (Kafka's sticky partitioning). */
const STICKY_RUN_RECORDS = 1000;

const produce: CliCommand = {
  spec: {
    name: "produce",
    summary: "Produce each line of stdin as one record.",
    positionals: [{ name: "TOPIC", description: "topic to write to (created when the broker auto-creates topics)" }],
    flags: [
      { name: "partition", value: "N", description: "write every record to this partition (default: by key hash, unkeyed records spread)" },
      { name: "key-separator", value: "SEP", description: "split each line at the first SEP into key and value (a line without SEP has no key)" },
      { name: "acks", value: "0|1|all", description: "acknowledgement to wait for (default all)" },
      { name: "header", value: "KEY=VALUE", repeatable: true, description: "header added to every record" },
      BOOTSTRAP_FLAG,
    ],
    notes: ["Progress goes to stderr while stderr is a terminal; the final count always does.", "Exits 1 when any record fails."],
  },
  async run({ args, connect }) {
    const topicName = args.positionals[0]!;
    const acks = parseAcks(stringFlag(args, "acks"));
    const fixedPartition = intFlag(args, "produce", "partition", 0);
    const separator = stringFlag(args, "key-separator");
    if (separator === "") throw new UsageError("--key-separator must not be empty", "produce");
    const encoder = new TextEncoder();
    const headers: RecordHeaderInput[] = keyValueFlag(args, "produce", "header").map(([key, value]) => ({ key, value: encoder.encode(value) }));

    const session = await connect();
    const topic = await session.topic(topicName, true);
    const partitionCount = topic.leaders.size;
    if (fixedPartition !== undefined && !topic.leaders.has(fixedPartition)) {
      throw new CliError(`topic ${topicName} has ${partitionCount} partitions; partition ${fixedPartition} does not exist`);
    }
    let acknowledged = 0;
    let failed = 0;
    let firstError: Error | null = null;
    const onDelivery = (report: DeliveryReport) => {
      if (report.error === null) acknowledged += report.recordCount;
      else {
        failed += report.recordCount;
        firstError ??= report.error;
      }
    };
    const producers = new Map<number, Producer>();
    for (const leader of new Set(topic.leaders.values())) {
      producers.set(leader, await Producer.create(await session.connectionTo(leader), { acks, lingerMs: LINGER_MS, onDelivery }));
    }
    const producerOf = (partition: number) => producers.get(topic.leaders.get(partition)!)!;

    const progress = process.stderr.isTTY ? setInterval(() => process.stderr.write(`\r${acknowledged} records produced`), PROGRESS_INTERVAL_MS) : null;
    let sent = 0;
    try {
      for await (const line of stdinLines()) {
        let key: Uint8Array | null = null;
        let value = line;
        if (separator !== undefined) {
          const at = line.indexOf(separator);
          if (at >= 0) {
            key = encoder.encode(line.slice(0, at));
            value = line.slice(at + separator.length);
          }
        }
        const partition = fixedPartition ?? (key !== null ? partitionForKey(key, partitionCount) : Math.floor(sent / STICKY_RUN_RECORDS) % partitionCount);
        const producer = producerOf(partition);
        if (producer.connection.closed) throw new CliError(`lost the connection to the leader of ${topicName}-${partition} after ${sent} records`);
        const valueBytes = encoder.encode(value);
        for (;;) {
          try {
            producer.append(topicName, partition, valueBytes, key, headers);
            break;
          } catch (error) {
            if (!(error instanceof BufferFullError)) throw error;
            await producer.waitForSpace();
          }
        }
        sent++;
      }
      await Promise.all([...producers.values()].map(flushOrFail));
    } finally {
      if (progress !== null) {
        clearInterval(progress);
        process.stderr.write("\r\x1b[K");
      }
    }
    const acksNote = acks === 0 ? " (acks=0: sent, not confirmed)" : "";
    if (failed > 0) {
      process.stderr.write(`produced ${acknowledged} of ${sent} records to ${topicName}; ${failed} failed: ${describeError(firstError)}\n`);
      return 1;
    }
    process.stderr.write(`produced ${acks === 0 ? sent : acknowledged} records to ${topicName}${acksNote}\n`);
    return 0;
  },
};

/** Flushes, failing instead of waiting forever when the connection closes with batches still unsent. */
async function flushOrFail(producer: Producer): Promise<void> {
  let timer: ReturnType<typeof setInterval> | undefined;
  const closed = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (producer.connection.closed) reject(new CliError("lost the connection to the broker before every record was acknowledged"));
    }, CONNECTION_CHECK_INTERVAL_MS);
  });
  try {
    await Promise.race([producer.flush(), closed]);
  } finally {
    clearInterval(timer);
  }
}

function parseAcks(text: string | undefined): Acks {
  if (text === undefined || text === "all" || text === "-1") return -1;
  if (text === "1") return 1;
  if (text === "0") return 0;
  throw new UsageError(`--acks must be 0, 1 or all, got ${JSON.stringify(text)}`, "produce");
}

/** stdin split into lines (without their "\n" or "\r\n"); a last line without a newline counts. */
async function* stdinLines(): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of Bun.stdin.stream()) {
    pending += decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n", start)) {
      yield pending.charCodeAt(end - 1) === 13 && end > start ? pending.slice(start, end - 1) : pending.slice(start, end);
      start = end + 1;
    }
    pending = pending.slice(start);
  }
  pending += decoder.decode();
  if (pending !== "") yield pending;
}

export const PRODUCE_COMMANDS: CliCommand[] = [produce];
