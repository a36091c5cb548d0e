import type { Database } from "lmdb";
import { logger } from "../lib/logger.ts";
import type { MetadataCommand } from "./records.ts";
import { MetadataState, type MetadataSnapshot } from "./state.ts";
import type { MetadataStore } from "./store.ts";

const log = logger("metadata");

export type ApplyListener = (command: MetadataCommand, state: MetadataState) => void;

/** Where metadata commands are agreed and made durable: LMDB on one node, the Raft quorum in a cluster. */
export interface MetadataLog {
  readonly state: MetadataState;
  /** Resolves once the commands are durable and applied to `state`, in order. */
  propose(commands: readonly MetadataCommand[]): Promise<void>;
  onApply(listener: ApplyListener): void;
}

interface StoredSnapshot {
  index: number;
  snapshot: MetadataSnapshot;
}

const SNAPSHOT_KEY = "snapshot";

/**
 * The single-node metadata log: commands appended to LMDB in one transaction per proposal, applied
 * after the commit. Every `snapshotEveryEntries` entries the state is snapshotted and older entries dropped,
 * so the log a restart replays stays bounded.
 */
export class LocalMetadataLog implements MetadataLog {
  readonly state: MetadataState;
  private readonly listeners: ApplyListener[] = [];
  private lastIndex: number;
  private snapshotIndex: number;
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    private readonly entries: Database<MetadataCommand, number>,
    private readonly snapshots: Database<StoredSnapshot, string>,
    private readonly snapshotEveryEntries: number,
  ) {
    const stored = snapshots.get(SNAPSHOT_KEY);
    this.state = stored ? MetadataState.fromSnapshot(stored.snapshot) : new MetadataState();
    this.snapshotIndex = stored?.index ?? 0;
    this.lastIndex = this.snapshotIndex;
    for (const { key, value } of entries.getRange({ start: this.snapshotIndex + 1 })) {
      if (key !== this.lastIndex + 1) throw new Error(`metadata log gap: entry ${key} after ${this.lastIndex}`);
      this.state.apply(value);
      this.lastIndex = key;
    }
    log.info("metadata recovered", { snapshotIndex: this.snapshotIndex, lastIndex: this.lastIndex });
  }

  static open(store: MetadataStore, snapshotEveryEntries = 1024): LocalMetadataLog {
    return new LocalMetadataLog(
      store.database<number, MetadataCommand>("metadata-log"),
      store.database<string, StoredSnapshot>("metadata-snapshot"),
      snapshotEveryEntries,
    );
  }

  onApply(listener: ApplyListener): void {
    this.listeners.push(listener);
  }

  propose(commands: readonly MetadataCommand[]): Promise<void> {
    // Proposals commit and apply strictly in order, even when LMDB finishes transactions concurrently.
    const result = this.tail.then(() => this.commit(commands));
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async commit(commands: readonly MetadataCommand[]): Promise<void> {
    if (commands.length === 0) return;
    const first = this.lastIndex + 1;
    // Validate against a scratch copy first: a command the state machine rejects must never reach the log.
    const scratch = MetadataState.fromSnapshot(structuredClone(this.state.toSnapshot()));
    for (const command of commands) scratch.apply(command);
    await this.entries.transaction(() => {
      commands.forEach((command, i) => this.entries.put(first + i, command));
    });
    for (const command of commands) {
      this.state.apply(command);
      this.lastIndex++;
      for (const listener of this.listeners) listener(command, this.state);
    }
    if (this.lastIndex - this.snapshotIndex >= this.snapshotEveryEntries) await this.snapshot();
  }

  private async snapshot(): Promise<void> {
    const index = this.lastIndex;
    const snapshot = this.state.toSnapshot();
    await this.entries.transaction(() => {
      this.snapshots.put(SNAPSHOT_KEY, { index, snapshot });
      for (const key of this.entries.getKeys({ end: index + 1 })) this.entries.remove(key);
    });
    this.snapshotIndex = index;
  }
}
