import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { HANDLERS } from "./api/index.ts";
import { Router } from "./api/router.ts";
import type { BrokerConfig } from "./config/options.ts";
import { HttpServer } from "./http/http-server.ts";
import { logger } from "./lib/logger.ts";
import { Controller } from "./metadata/controller.ts";
import { LocalMetadataLog, type MetadataLog } from "./metadata/metadata-log.ts";
import { MetadataStore } from "./metadata/store.ts";
import { brokerTopicDefaults } from "./metadata/topic-configs.ts";
import { Gauge, MetricsRegistry } from "./metrics/registry.ts";
import { RequestMetrics } from "./metrics/request-metrics.ts";
import { KafkaServer } from "./net/kafka-server.ts";
import { randomUuid } from "./protocol/reader.ts";
import { GroupService } from "./group/group-service.ts";
import { defaultGroupConfig } from "./group/types.ts";
import { ProducerIdSource } from "./idempotence/producer-id-source.ts";
import { ReplicaManager } from "./replication/replica-manager.ts";
import { LogManager } from "./wal/log-manager.ts";
import { fromTopicConfigs } from "./wal/log-config.ts";

const log = logger("broker");

/** One Chronik node: wires storage, metadata, the Kafka listener and the HTTP side together. */
export class Broker {
  readonly metrics = new MetricsRegistry();
  private readonly router: Router;
  private readonly kafkaServer: KafkaServer;
  private readonly httpServer: HttpServer;
  private readonly defaults: Record<string, string>;
  readonly replicas: ReplicaManager;
  readonly producerIds: ProducerIdSource;
  readonly groups: GroupService;
  private ready = false;
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly config: BrokerConfig,
    private readonly store: MetadataStore,
    readonly metadata: MetadataLog,
    readonly controller: Controller,
    readonly logs: LogManager,
  ) {
    this.defaults = brokerTopicDefaults(config);
    this.replicas = new ReplicaManager(config.nodeId, logs, store.database("producer-state"), this.defaults, config.maxConnections * 4);
    this.producerIds = new ProducerIdSource((size) => controller.allocateProducerIds(size));
    this.groups = new GroupService({
      config: {
        ...defaultGroupConfig,
        initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
        minSessionTimeoutMs: config.groupMinSessionTimeoutMs,
        maxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
        offsetsRetentionMs: config.offsetsRetentionMinutes * 60_000,
      },
      db: store.database("group-records"),
    });
    this.router = new Router(HANDLERS, this, new RequestMetrics(this.metrics));
    this.kafkaServer = new KafkaServer(
      {
        host: config.host,
        port: config.kafkaPort,
        maxFrameBytes: config.maxFrameBytes,
        maxConnections: config.maxConnections,
        maxInflightRequests: config.maxInflightRequests,
      },
      this.router.handleFrame,
    );
    this.httpServer = new HttpServer(this, config.host, config.httpPort);
    this.registerGauges();
  }

  static async start(config: BrokerConfig): Promise<Broker> {
    const dataDir = resolve(config.dataDir);
    mkdirSync(dataDir, { recursive: true });
    const store = MetadataStore.open(dataDir);
    const metadata = LocalMetadataLog.open(store);
    const controller = new Controller(metadata, config, randomUuid);
    const logs = await LogManager.open({
      dataDir,
      defaults: fromTopicConfigs(brokerTopicDefaults(config)),
      flushMode: config.flushMode as "durable" | "fast",
      flushIntervalMs: config.flushIntervalMs,
    });
    const broker = new Broker(config, store, metadata, controller, logs);
    broker.replicas.syncWithMetadata(metadata.state);
    metadata.onApply((command, state) => broker.replicas.onMetadata(command, state));
    await broker.groups.start();
    await controller.initCluster(config.clusterId !== "" ? config.clusterId : randomUuid());
    broker.kafkaServer.listen();
    broker.httpServer.listen();
    await controller.registerBroker({
      nodeId: config.nodeId,
      host: config.advertisedHost,
      port: broker.kafkaPort,
      rack: null,
      fenced: false,
    });
    broker.ready = true;
    log.info("broker started", {
      nodeId: config.nodeId,
      clusterId: metadata.state.clusterId,
      kafkaPort: broker.kafkaPort,
      httpPort: broker.httpPort,
      dataDir,
    });
    return broker;
  }

  get kafkaPort(): number {
    return this.kafkaServer.port;
  }

  get httpPort(): number {
    return this.httpServer.port;
  }

  get isReady(): boolean {
    return this.ready;
  }

  supportedApis(): { apiKey: number; minVersion: number; maxVersion: number }[] {
    return this.router.supportedApis();
  }

  /** In single-node mode this broker is its own controller. */
  controllerId(): number {
    return this.config.nodeId;
  }

  topicDefaults(): Readonly<Record<string, string>> {
    return this.defaults;
  }

  private registerGauges(): void {
    const flushStat = (name: string, help: string, pick: (s: ReturnType<LogManager["stats"]>) => number) =>
      this.metrics.register(new Gauge(name, help, () => [[undefined, pick(this.logs.stats())]]));
    flushStat("chronik_fsyncs_total", "fdatasync calls made by the group-commit flusher.", (s) => s.fsyncCount);
    flushStat("chronik_flush_rounds_total", "Group-commit flush rounds.", (s) => s.flushRounds);
    flushStat("chronik_flushed_appends_total", "Appends made durable by the flusher.", (s) => s.appendsFlushed);
    flushStat("chronik_flushed_bytes_total", "Bytes made durable by the flusher.", (s) => s.bytesFlushed);
    flushStat("chronik_flush_appends_per_round", "Mean appends covered by one flush round.", (s) => s.appendsPerRound);
    flushStat("chronik_flush_round_ms_total", "Time spent in flush rounds, milliseconds.", (s) => s.totalFlushMs);
    this.metrics.register(
      new Gauge("chronik_connections", "Open Kafka client connections.", () => [[undefined, this.kafkaServer.stats.connections]]),
    );
    this.metrics.register(
      new Gauge("chronik_topics", "Topics in the cluster metadata.", () => [[undefined, [...this.metadata.state.topics()].length]]),
    );
    this.metrics.register(
      new Gauge("chronik_partitions", "Partitions in the cluster metadata.", () => {
        let count = 0;
        for (const topic of this.metadata.state.topics()) count += topic.partitions.length;
        return [[undefined, count]];
      }),
    );
  }

  /** Stops listening, lets storage flush and closes LMDB. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.ready = false;
      this.kafkaServer.stop();
      this.httpServer.stop();
      this.replicas.waiters.wakeAll();
      await this.logs.flush();
      await this.replicas.snapshotProducerState();
      await this.groups.stop();
      await this.logs.close();
      await this.store.close();
      log.info("broker stopped");
    })();
    return this.stopping;
  }
}
