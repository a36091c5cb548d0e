/**
 * `chronik consume`: records to stdout, from an offset or from a group's committed offsets. With a group, the
 * progress is committed back outside any generation (a standalone consumer's commit), so the next run resumes.
 */
import type { KafkaConnection } from "../client/connection.ts";
import { Consumer, type ConsumerRecord } from "../client/consumer.ts";
import { BOOTSTRAP_FLAG, UsageError, boolFlag, intFlag, stringFlag } from "./args.ts";
import { writeStdout, type CliCommand } from "./output.ts";
import { CliError, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, commitOffsets, fetchCommittedOffsets, type Session, type TopicPartitions } from "./session.ts";

const DEFAULT_MAX_WAIT_MS = 500;
const utf8 = new TextDecoder();

const consume: CliCommand = {
  spec: {
    name: "consume",
    summary: "Print a topic's records to stdout, one line each.",
    positionals: [{ name: "TOPIC", description: "topic to read" }],
    flags: [
      { name: "partition", value: "N", description: "read only this partition (default: all)" },
      { name: "offset", value: "beginning|end|N", description: "where to start, or where a group without a committed offset starts (default end)" },
      { name: "group", value: "G", description: "start from G's committed offsets and commit progress back" },
      { name: "max-messages", value: "N", description: "stop after N records" },
      { name: "exit-at-end", description: "stop once every partition is read to its high watermark" },
      { name: "timeout-ms", value: "N", description: "stop when no record arrives for N ms" },
      { name: "format", value: "FORMAT", description: "line format (default '%v'): %k key, %v value, %t topic, %p partition, %o offset, %T timestamp ms, %h headers, %% percent; \\t \\n" },
      BOOTSTRAP_FLAG,
    ],
    notes: ["Without --max-messages, --exit-at-end or --timeout-ms it runs until interrupted (Ctrl-C commits and exits)."],
  },
  async run({ args, connect }) {
    const topicName = args.positionals[0]!;
    const onlyPartition = intFlag(args, "consume", "partition", 0);
    const maxMessages = intFlag(args, "consume", "max-messages", 1);
    const timeoutMs = intFlag(args, "consume", "timeout-ms", 1);
    const exitAtEnd = boolFlag(args, "exit-at-end");
    const groupId = stringFlag(args, "group");
    if (groupId === "") throw new UsageError("--group must not be empty", "consume");
    const startAt = parseOffset(stringFlag(args, "offset"));
    const format = compileFormat(stringFlag(args, "format") ?? "%v");

    const session = await connect();
    const topic = await session.topic(topicName);
    if (onlyPartition !== undefined && !topic.leaders.has(onlyPartition)) {
      throw new CliError(`topic ${topicName} has ${topic.leaders.size} partitions; partition ${onlyPartition} does not exist`);
    }
    const partitions = onlyPartition !== undefined ? [onlyPartition] : [...topic.leaders.keys()];
    const coordinator = groupId === undefined ? null : await session.coordinator(groupId);
    const positions = await startPositions(session, topic, partitions, startAt, coordinator === null ? null : { coordinator, groupId: groupId! });
    const endOffsets = await session.listOffsets(topic, partitions, LATEST_TIMESTAMP);

    const consumers: { consumer: Consumer; partitions: number[] }[] = [];
    const byLeader = new Map<number, number[]>();
    for (const p of partitions) byLeader.set(topic.leaders.get(p)!, [...(byLeader.get(topic.leaders.get(p)!) ?? []), p]);
    const maxWaitMs = Math.min(DEFAULT_MAX_WAIT_MS, timeoutMs ?? DEFAULT_MAX_WAIT_MS);
    for (const [leader, list] of byLeader) {
      const consumer = Consumer.create(await session.connectionTo(leader), { maxWaitMs });
      consumer.assign(list.map((partition) => ({ topic: topicName, partition, offset: positions.get(partition)! })));
      consumers.push({ consumer, partitions: list });
    }

    let interrupted = false;
    const onSignal = () => {
      interrupted = true;
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    const caughtUp = () => partitions.every((p) => positions.get(p)! >= endOffsets.get(p)!);
    let printed = 0;
    let lastRecordAtMs = performance.now();
    const uncommitted = new Map<number, number>();
    try {
      while (!interrupted && !(exitAtEnd && caughtUp()) && (maxMessages === undefined || printed < maxMessages)) {
        let out = "";
        let full = false;
        for (const { consumer, partitions: assigned } of consumers) {
          const visit = (record: ConsumerRecord) => {
            if (full) return;
            out += format(record) + "\n";
            printed++;
            positions.set(record.partition, record.offset + 1);
            uncommitted.set(record.partition, record.offset + 1);
            if (maxMessages !== undefined && printed >= maxMessages) full = true;
          };
          await consumer.pollEach(visit);
          for (const p of assigned) {
            const highWatermark = consumer.highWatermark(topicName, p);
            if (highWatermark >= 0) endOffsets.set(p, highWatermark);
            // Past the last record read (control batches, compacted gaps) is still progress, unless we stopped mid-fetch.
            if (!full && consumer.position(topicName, p) > positions.get(p)!) {
              positions.set(p, consumer.position(topicName, p));
              uncommitted.set(p, consumer.position(topicName, p));
            }
          }
          if (full) break;
        }
        if (out !== "") {
          lastRecordAtMs = performance.now();
          await writeStdout(out);
        }
        if (coordinator !== null && uncommitted.size > 0) {
          await commitOffsets(coordinator, groupId!, topicName, uncommitted);
          uncommitted.clear();
        }
        if (timeoutMs !== undefined && out === "" && performance.now() - lastRecordAtMs >= timeoutMs) break;
      }
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      for (const { consumer } of consumers) consumer.close();
    }
    process.stderr.write(`consumed ${printed} records from ${topicName}\n`);
    return 0;
  },
};

type StartAt = { kind: "beginning" } | { kind: "end" } | { kind: "offset"; offset: number };

function parseOffset(text: string | undefined): StartAt {
  if (text === undefined || text === "end") return { kind: "end" };
  if (text === "beginning") return { kind: "beginning" };
  const offset = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(offset) || offset < 0) throw new UsageError(`--offset must be beginning, end or an offset >= 0, got ${JSON.stringify(text)}`, "consume");
  return { kind: "offset", offset };
}

/** Each partition's first offset: the group's committed offset when there is one, else --offset. */
async function startPositions(
  session: Session,
  topic: TopicPartitions,
  partitions: number[],
  startAt: StartAt,
  group: { coordinator: KafkaConnection; groupId: string } | null,
): Promise<Map<number, number>> {
  const positions = new Map<number, number>();
  if (group !== null) {
    const committed = await fetchCommittedOffsets(group.coordinator, group.groupId, [{ name: topic.name, partitions }]);
    for (const [partition, offset] of committed.get(topic.name) ?? []) if (offset >= 0) positions.set(partition, offset);
  }
  const missing = partitions.filter((p) => !positions.has(p));
  if (missing.length === 0) return positions;
  if (startAt.kind === "offset") {
    for (const p of missing) positions.set(p, startAt.offset);
    return positions;
  }
  const offsets = await session.listOffsets(topic, missing, startAt.kind === "beginning" ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP);
  for (const p of missing) positions.set(p, offsets.get(p)!);
  return positions;
}

/** Compiles --format once into a function, so per-record work is only the substitutions. */
export function compileFormat(format: string): (record: ConsumerRecord) => string {
  const parts: ((record: ConsumerRecord) => string)[] = [];
  let literal = "";
  const flush = () => {
    if (literal === "") return;
    const text = literal;
    parts.push(() => text);
    literal = "";
  };
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    const next = format[i + 1];
    if (c === "\\" && next !== undefined && "nt\\".includes(next)) {
      literal += next === "n" ? "\n" : next === "t" ? "\t" : "\\";
      i++;
    } else if (c === "%" && next !== undefined) {
      i++;
      if (next === "%") {
        literal += "%";
        continue;
      }
      flush();
      switch (next) {
        case "k":
          parts.push((r) => (r.key === null ? "" : utf8.decode(r.key)));
          break;
        case "v":
          parts.push((r) => (r.value === null ? "" : utf8.decode(r.value)));
          break;
        case "t":
          parts.push((r) => r.topic);
          break;
        case "p":
          parts.push((r) => String(r.partition));
          break;
        case "o":
          parts.push((r) => String(r.offset));
          break;
        case "T":
          parts.push((r) => String(r.timestampMs));
          break;
        case "h":
          parts.push((r) => r.headers.map((h) => `${h.key}=${h.value === null ? "" : utf8.decode(h.value)}`).join(","));
          break;
        default:
          throw new UsageError(`--format has unknown %${next} (known: %k %v %t %p %o %T %h %%)`, "consume");
      }
    } else {
      literal += c;
    }
  }
  flush();
  return (record) => {
    let line = "";
    for (const part of parts) line += part(record);
    return line;
  };
}

export const CONSUME_COMMANDS: CliCommand[] = [consume];
