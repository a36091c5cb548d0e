import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { HANDLERS } from "./api/index.ts";
import { Router } from "./api/router.ts";
import { ClusterMembership } from "./cluster/membership.ts";
import type { BrokerConfig } from "./config/options.ts";
import { quorumVoters } from "./config/parse.ts";
import { HttpServer } from "./http/http-server.ts";
import { commitFailureCause } from "./lib/lmdb-commit.ts";
import { logger } from "./lib/logger.ts";
import { Controller } from "./metadata/controller.ts";
import { GroupRecordLog } from "./metadata/group-record-log.ts";
import { RaftMetadataLog } from "./metadata/metadata-log.ts";
import type { BrokerRecord } from "./metadata/records.ts";
import { MetadataStore } from "./metadata/store.ts";
import { brokerTopicDefaults } from "./metadata/topic-configs.ts";
import { Gauge, MetricsRegistry } from "./metrics/registry.ts";
import { RequestMetrics } from "./metrics/request-metrics.ts";
import { KafkaServer } from "./net/kafka-server.ts";
import { randomUuid } from "./protocol/reader.ts";
import { LmdbGroupRecordStore } from "./group/group-record-store.ts";
import { GroupService } from "./group/group-service.ts";
import { defaultGroupConfig } from "./group/types.ts";
import { ProducerIdSource } from "./idempotence/producer-id-source.ts";
import type { LocalReplica } from "./replication/local-replica.ts";
import { ReplicaManager } from "./replication/replica-manager.ts";
import { LogManager } from "./wal/log-manager.ts";
import { fromTopicConfigs } from "./wal/log-config.ts";

const log = logger("broker");
/** Group records moved from LMDB per metadata proposal, so none is a huge log entry. */
const GROUP_RECORDS_PER_PROPOSAL = 1000;

/** How long startup waits for a metadata quorum before giving up. */
const QUORUM_WAIT_MS = 120_000;
/** Bounds the controlled-shutdown fence: without a quorum (the whole cluster stopping) it cannot commit. */
const CONTROLLED_SHUTDOWN_MS = 3_000;

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
  private readonly groupRecords: GroupRecordLog;
  readonly membership: ClusterMembership;
  private ready = false;
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly config: BrokerConfig,
    private readonly store: MetadataStore,
    readonly metadata: RaftMetadataLog,
    readonly controller: Controller,
    readonly logs: LogManager,
  ) {
    this.membership = new ClusterMembership(metadata, controller, {
      heartbeatIntervalMs: config.brokerHeartbeatIntervalMs,
      sessionTimeoutMs: config.brokerSessionTimeoutMs,
      autoLeaderRebalance: config.autoLeaderRebalance,
      leaderImbalanceCheckIntervalMs: config.leaderImbalanceCheckIntervalMs,
      nowMs: () => performance.now(),
    });
    this.defaults = brokerTopicDefaults(config);
    this.replicas = new ReplicaManager(config.nodeId, logs, store.database("producer-state"), this.defaults, config.maxConnections * 4);
    this.producerIds = new ProducerIdSource((size) => controller.allocateProducerIds(size));
    this.groupRecords = new GroupRecordLog(metadata, config.nodeId, randomUuid());
    this.groups = new GroupService({
      config: {
        ...defaultGroupConfig,
        initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
        minSessionTimeoutMs: config.groupMinSessionTimeoutMs,
        maxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
        offsetsRetentionMs: config.offsetsRetentionMinutes * 60_000,
      },
      store: this.groupRecords,
      coordinates: (groupId) => this.groupCoordinator(groupId)?.nodeId === config.nodeId,
      replicated: { groupIds: () => metadata.state.groupIds(), recordsOf: (groupId) => metadata.state.groupRecordsOf(groupId) },
    });
    this.router = new Router(HANDLERS, this, new RequestMetrics(this.metrics));
    this.kafkaServer = new KafkaServer(
      {
        host: config.host,
        port: config.kafkaPort,
        maxFrameBytes: config.maxFrameBytes,
        maxConnections: config.maxConnections,
        maxInflightRequests: config.maxInflightRequests,
        maxQueuedRequestBytes: config.queuedMaxRequestBytes,
        maxQueuedResponseBytes: config.maxQueuedResponseBytes,
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
    const voters = quorumVoters(config);
    // A one-voter quorum and a cluster take the same path: Raft is the only store of the metadata.
    const metadata = RaftMetadataLog.start({
      nodeId: config.nodeId,
      voters,
      dataDir: join(dataDir, "raft"),
      electionTimeoutMs: config.raftElectionTimeoutMs,
      maxQueuedBytesPerPeer: config.raftQueueMaxBytes,
      snapshotEveryBytes: config.metadataSnapshotBytes,
      listenHost: config.host,
      listenPort: voters.get(config.nodeId)!.port,
    });
    const controller = new Controller(metadata, config, randomUuid);
    const logs = await LogManager.open({
      dataDir,
      defaults: fromTopicConfigs(brokerTopicDefaults(config)),
      flushMode: config.flushMode as "durable" | "fast",
      flushIntervalMs: config.flushIntervalMs,
      faultSyncDelayMs: config.testFsyncDelayMs,
    });
    const broker = new Broker(config, store, metadata, controller, logs);
    await broker.groups.start();
    // Waits for a quorum: the state must hold everything committed before this broker serves from it.
    await metadata.catchUp(QUORUM_WAIT_MS);
    await controller.initCluster(config.clusterId !== "" ? config.clusterId : randomUuid());
    broker.kafkaServer.listen();
    broker.httpServer.listen();
    // Registration unfences this broker and hands it the partitions left leaderless, so replicas open after it.
    const replicationPort = broker.replicas.startReplication({
      host: config.host,
      port: config.replicationPort,
      replicaLagTimeMaxMs: config.replicaLagTimeMaxMs,
      maxFrameBytes: config.maxFrameBytes,
      replicationQueueMaxBytes: config.replicationQueueMaxBytes,
      addressOf: (nodeId) => {
        const peer = metadata.state.broker(nodeId);
        return peer?.replicationPort ? { host: peer.host, port: peer.replicationPort } : null;
      },
      alterPartition: (request) => controller.alterPartition(request),
      isLiveBroker: (nodeId) => metadata.state.broker(nodeId)?.fenced === false,
      holdsLeaderLease: () => broker.membership.holdsLeaderLease(),
      nowMs: () => performance.now(),
      metrics: broker.metrics,
    });
    await broker.membership.register({ nodeId: config.nodeId, host: config.advertisedHost, port: broker.kafkaPort, rack: null, replicationPort });
    broker.replicas.syncWithMetadata(metadata.state);
    await broker.moveGroupRecordsToLog();
    metadata.onApply((change, state) => {
      if (change.type === "restored") {
        broker.replicas.syncWithMetadata(state);
        broker.groups.resync();
        return;
      }
      broker.replicas.onMetadata(change, state);
      // Which broker coordinates a group follows the live brokers.
      if (change.type === "broker") broker.groups.resync();
      else if (change.type === "group-records" && change.incarnation !== broker.groupRecords.incarnation) broker.groups.replay(change.records);
    });
    broker.groups.resync();
    broker.ready = true;
    log.info("broker started", {
      nodeId: config.nodeId,
      brokerEpoch: broker.membership.epoch,
      raftPort: metadata.raftPort,
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

  /** The controller is the metadata quorum's leader; -1 while none is known. */
  controllerId(): number {
    return this.metadata.leaderId ?? -1;
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
      new Gauge("chronik_connections_rejected_total", "Client connections closed at once because max.connections were open.", () => [
        [undefined, this.kafkaServer.stats.connectionsRejected],
      ]),
    );
    this.metrics.register(
      new Gauge("chronik_queued_request_bytes", "Bytes of Kafka requests read and not yet answered.", () => [[undefined, this.kafkaServer.stats.queuedRequestBytes]]),
    );
    this.metrics.register(
      new Gauge("chronik_queued_response_bytes", "Bytes of Kafka responses waiting for their clients to read them.", () => [
        [undefined, this.kafkaServer.stats.queuedResponseBytes],
      ]),
    );
    this.metrics.register(
      new Gauge("chronik_replication_queued_bytes", "Bytes this leader has queued for each follower that its socket has not taken yet.", () =>
        [...this.replicas.replicationQueuedBytes()].map(([follower, bytes]) => [{ follower }, bytes] as [Record<string, string | number>, number]),
      ),
    );
    this.metrics.register(
      new Gauge("process_resident_memory_bytes", "Resident memory of the broker process, bytes.", () => [[undefined, process.memoryUsage.rss()]]),
    );
    this.metrics.register(
      new Gauge("chronik_topics", "Topics in the cluster metadata.", () => [[undefined, [...this.metadata.state.topics()].length]]),
    );
    const raft = (name: string, help: string, pick: (s: ReturnType<RaftMetadataLog["raftStatus"]>) => number) =>
      this.metrics.register(new Gauge(name, help, () => [[undefined, pick(this.metadata.raftStatus())]]));
    raft("chronik_raft_term", "Current Raft term of the metadata quorum.", (s) => s.term);
    raft("chronik_raft_leader", "1 when this node is the Raft leader (the controller), else 0.", (s) => (s.isLeader ? 1 : 0));
    raft("chronik_raft_commit_index", "Highest metadata log index known committed.", (s) => s.commitIndex);
    raft("chronik_raft_applied_index", "Highest metadata log index applied here.", (s) => s.appliedIndex);
    raft(
      "chronik_raft_storage_failing",
      "1 while a failed write to the Raft store (a full disk) is being retried: metadata changes wait until it succeeds.",
      (s) => (s.storageFailing ? 1 : 0),
    );
    const applyErrors = (name: string, help: string, pick: (e: ReturnType<RaftMetadataLog["applyErrors"]>) => number) =>
      this.metrics.register(new Gauge(name, help, () => [[undefined, pick(this.metadata.applyErrors())]]));
    applyErrors(
      "chronik_metadata_load_errors_total",
      "Committed metadata records refused as malformed or undone because applying them threw; later records still apply (Kafka's metadata-load-error-count).",
      (e) => e.load,
    );
    applyErrors(
      "chronik_metadata_apply_errors_total",
      "Errors of this broker's components taking applied metadata changes (Kafka's metadata-apply-error-count).",
      (e) => e.apply,
    );
    const perReplica = (name: string, help: string, pick: (r: LocalReplica) => number) =>
      this.metrics.register(
        new Gauge(name, help, () => [...this.replicas.allReplicas()].map((r) => [{ topic: r.topic, partition: r.partition }, pick(r)] as [Record<string, string | number>, number])),
      );
    perReplica("chronik_log_size_bytes", "Bytes held by each partition's log on this broker.", (r) => r.log.sizeBytes);
    perReplica("chronik_log_end_offset", "Log end offset of each partition on this broker.", (r) => r.log.logEndOffset);
    perReplica("chronik_high_watermark", "High watermark of each partition on this broker.", (r) => r.log.highWatermark);
    this.metrics.register(
      new Gauge("chronik_consumer_group_lag", "High watermark minus the committed offset, per group and partition this broker holds.", () => {
        const rows: [Record<string, string | number>, number][] = [];
        for (const c of this.groups.committedOffsetsNow()) {
          const lookup = this.replicas.lookup(c.topic, c.partition);
          if (lookup.ok) rows.push([{ group: c.groupId, topic: c.topic, partition: c.partition }, Math.max(0, lookup.replica.log.highWatermark - c.offset)]);
        }
        return rows;
      }),
    );
    this.metrics.register(
      new Gauge("chronik_partitions", "Partitions in the cluster metadata.", () => {
        let count = 0;
        for (const topic of this.metadata.state.topics()) count += topic.partitions.length;
        return [[undefined, count]];
      }),
    );
  }

  /** The live broker that coordinates `groupId` (see coordinator-placement.ts); undefined while none is live. */
  groupCoordinator(groupId: string): BrokerRecord | undefined {
    return this.metadata.state.groupCoordinator(groupId);
  }

  /**
   * Moves the group records that brokers before replicated groups kept in LMDB into the metadata log: those of
   * the groups this broker coordinates that the log does not have yet. Kept in LMDB if the log refuses them.
   */
  private async moveGroupRecordsToLog(): Promise<void> {
    const legacy = new LmdbGroupRecordStore(this.store.database("group-records"));
    const records = legacy.load();
    if (records.length === 0) return;
    const state = this.metadata.state;
    const moving = records.filter((r) => state.groupCoordinator(r.groupId)?.nodeId === this.config.nodeId && state.groupRecordsOf(r.groupId).length === 0);
    try {
      for (let i = 0; i < moving.length; i += GROUP_RECORDS_PER_PROPOSAL) await this.groupRecords.write(moving.slice(i, i + GROUP_RECORDS_PER_PROPOSAL));
    } catch (error) {
      log.warn("group records not moved from LMDB to the metadata log; trying again at the next start", { error });
      return;
    }
    await legacy.clear();
    log.info("group records moved from LMDB to the metadata log", { moved: moving.length, dropped: records.length - moving.length });
  }

  /** Stops listening, lets storage flush and closes LMDB. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.ready = false;
      // Controlled shutdown first, while the listeners still serve, so clients move to the new leaders.
      await this.membership.shutDown(this.config.nodeId, CONTROLLED_SHUTDOWN_MS);
      this.replicas.stopReplication();
      this.kafkaServer.stop();
      this.httpServer.stop();
      this.replicas.waiters.wakeAll();
      await this.logs.flush();
      await this.replicas.snapshotProducerState().catch(async (error: unknown) => {
        // On a full disk: the next start rebuilds producer state from the log instead.
        log.warn("producer state not snapshotted at shutdown", { error: await commitFailureCause(error) });
      });
      await this.groups.stop();
      await this.logs.close();
      await this.metadata.close();
      await this.store.close();
      log.info("broker stopped");
    })();
    return this.stopping;
  }
}
