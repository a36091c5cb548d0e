/**
 * The chaos workload: idempotent acks=all producers, manually assigned consumers and group consumers through
 * confluent-kafka (librdkafka, test/chaos/py), and idempotent producers and members of a second group through
 * kafkajs (test/chaos/js, run by bun), each a child process as users run them; every line they print becomes a
 * history event. A client that dies (a fatal idempotence error, a crash) is replaced by a fresh one under a new
 * name, so its values stay unique.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { DEBIAN_PYTHON } from "../../helpers/run-process.ts";
import { parseEventLine, type HistoryEvent } from "./history.ts";

const PY = join(import.meta.dir, "../py");
const JS = join(import.meta.dir, "../js");
const PRODUCER_FLUSH_S = 30;
const CLIENT_STOP_TIMEOUT_MS = (PRODUCER_FLUSH_S + 15) * 1000;

export interface WorkloadOptions {
  bootstrap: string;
  topic: string;
  partitions: number;
  producers: number;
  consumers: number;
  /** Members of one consumer group (classic protocol) that share the topic's partitions. */
  groupConsumers: number;
  /** Idempotent acks=all producers through kafkajs. */
  jsProducers: number;
  /** kafkajs members of a second consumer group, which reads the topic apart from the first. */
  jsGroupConsumers: number;
  ratePerProducerPerS: number;
  /** Each client's stderr (librdkafka's warnings, kafkajs's log: resets, retries) goes to NAME.log here. */
  logDir: string;
}

type Role = "producer" | "consumer" | "group" | "jsProducer" | "jsGroup";
/** Process names start with these: a process's name tells its role and client library. */
const NAME_PREFIX: Record<Role, string> = { producer: "p", consumer: "c", group: "g", jsProducer: "jp", jsGroup: "jg" };
const GROUP_ID = "chaos-group";
const JS_GROUP_ID = "chaos-group-js";

/** Whether a history process is a kafkajs client (the rest are confluent-kafka's, or the final reader). */
export const isKafkajsProcess = (name: string): boolean => name.startsWith(NAME_PREFIX.jsProducer) || name.startsWith(NAME_PREFIX.jsGroup);

interface Client {
  name: string;
  role: Role;
  slot: number;
  child: Subprocess;
  done: Promise<void>;
}

export class Workload {
  readonly history: HistoryEvent[] = [];
  /** Client restarts and their stderr tails, for the report. */
  readonly notes: string[] = [];
  private readonly clients = new Set<Client>();
  private readonly generation = new Map<string, number>();
  private stopping = false;
  private readonly startedMs = performance.now();

  constructor(private readonly options: WorkloadOptions) {
    mkdirSync(options.logDir, { recursive: true });
  }

  start(): void {
    for (let i = 1; i <= this.options.producers; i++) this.spawn("producer", i);
    for (let i = 1; i <= this.options.consumers; i++) this.spawn("consumer", i);
    for (let i = 1; i <= this.options.groupConsumers; i++) this.spawn("group", i);
    for (let i = 1; i <= this.options.jsProducers; i++) this.spawn("jsProducer", i);
    for (let i = 1; i <= this.options.jsGroupConsumers; i++) this.spawn("jsGroup", i);
  }

  acknowledged(): number {
    let count = 0;
    for (const event of this.history) if (event.kind === "ack") count++;
    return count;
  }

  /** Stops producers first (they flush what they hold), then readers; SIGKILL after a bound. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const roles of [["producer", "jsProducer"], ["consumer", "group", "jsGroup"]]) {
      const stopping = [...this.clients].filter((c) => roles.includes(c.role));
      for (const client of stopping) client.child.kill("SIGTERM");
      const timer = setTimeout(() => stopping.forEach((c) => c.child.kill("SIGKILL")), CLIENT_STOP_TIMEOUT_MS);
      await Promise.all(stopping.map((c) => c.done));
      clearTimeout(timer);
    }
  }

  /** Process ids of running clients, for a synchronous exit hook. */
  pids(): number[] {
    return [...this.clients].filter((c) => c.child.exitCode === null).map((c) => c.child.pid);
  }

  private spawn(role: Role, slot: number): void {
    const key = `${NAME_PREFIX[role]}${slot}`;
    const generation = (this.generation.get(key) ?? 0) + 1;
    this.generation.set(key, generation);
    const name = `${key}g${generation}`;
    const { bootstrap, topic, partitions, ratePerProducerPerS } = this.options;
    const cmd = {
      producer: [DEBIAN_PYTHON, join(PY, "producer.py"), bootstrap, topic, name, String(ratePerProducerPerS), String(PRODUCER_FLUSH_S)],
      consumer: [DEBIAN_PYTHON, join(PY, "consumer.py"), bootstrap, topic, String(partitions)],
      group: [DEBIAN_PYTHON, join(PY, "group_consumer.py"), bootstrap, topic, GROUP_ID],
      jsProducer: [process.execPath, join(JS, "producer.ts"), bootstrap, topic, String(partitions), name, String(ratePerProducerPerS), String(PRODUCER_FLUSH_S)],
      jsGroup: [process.execPath, join(JS, "group-consumer.ts"), bootstrap, topic, JS_GROUP_ID],
    }[role];
    const child = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
    let stderrTail = "";
    const readStdout = this.collect(child.stdout as ReadableStream<Uint8Array>, name);
    const logFile = join(this.options.logDir, `${name}.log`);
    const readStderr = (async () => {
      for await (const chunk of child.stderr as ReadableStream<Uint8Array>) {
        const text = new TextDecoder().decode(chunk);
        stderrTail = (stderrTail + text).slice(-2_000);
        appendFileSync(logFile, text);
      }
    })();
    const client: Client = {
      name,
      role,
      slot,
      child,
      done: (async () => {
        await Promise.all([child.exited, readStdout, readStderr]);
        this.clients.delete(client);
        if (this.stopping) return;
        this.notes.push(`${name} exited with ${child.exitCode ?? child.signalCode} and was replaced; stderr tail: ${stderrTail.trim().split("\n").slice(-3).join(" | ")}`);
        this.spawn(role, slot);
      })(),
    };
    this.clients.add(client);
  }

  private async collect(stream: ReadableStream<Uint8Array>, process: string): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      partial += decoder.decode(chunk, { stream: true });
      const lines = partial.split("\n");
      partial = lines.pop()!;
      const atMs = performance.now() - this.startedMs;
      for (const line of lines) {
        const event = parseEventLine(line, process, atMs);
        if (event) this.history.push(event);
      }
    }
  }
}
