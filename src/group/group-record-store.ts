/**
 * Where the group coordinator's records go: the metadata log in a broker (replicated, like Kafka's
 * __consumer_offsets, so a group's next coordinator has its offsets), or an LMDB database (tests of one
 * coordinator, and the store brokers used before groups were replicated, which a start moves to the log).
 */
import type { Database } from "lmdb";
import { commitFailureCause } from "../lib/lmdb-commit.ts";
import { logger } from "../lib/logger.ts";
import { ErrorCode, KafkaCodedError } from "../protocol/error-codes.ts";
import type { GroupRecord } from "./types.ts";

const log = logger("groups");

export interface GroupRecordStore {
  /** What a start rebuilds the groups from. */
  load(): GroupRecord[];
  /** Resolves once the records are durable; rejects with a KafkaCodedError carrying the client's answer. */
  write(records: GroupRecord[]): Promise<void>;
}

/** LMDB keys: [groupId, "g"] for a group record, [groupId, "c"] for a consumer group's, [groupId, "o", topic, partition] for an offset. */
export type GroupRecordKey = [string, "g"] | [string, "c"] | [string, "o", string, number];

export class LmdbGroupRecordStore implements GroupRecordStore {
  constructor(private readonly db: Database<GroupRecord, GroupRecordKey>) {}

  load(): GroupRecord[] {
    return [...this.db.getRange()].map(({ value }) => value);
  }

  write(records: GroupRecord[]): Promise<void> {
    const written = this.db.transaction(() => {
      for (const record of records) this.apply(record);
    });
    return written.then(
      () => undefined,
      async (error: unknown) => {
        const cause = await commitFailureCause(error);
        log.error("persisting group records failed", { records: records.length, error: cause });
        // Kafka's answer when the group's log cannot take an append: clients look the coordinator up again and retry.
        throw new KafkaCodedError(ErrorCode.NOT_COORDINATOR, `group store write failed: ${String(cause)}`, { cause });
      },
    );
  }

  /** Empties the store, once its records live elsewhere. */
  async clear(): Promise<void> {
    await this.db.clearAsync();
  }

  private apply(record: GroupRecord): void {
    switch (record.type) {
      case "offset":
        void this.db.put([record.groupId, "o", record.topic, record.partition], record);
        return;
      case "offset-deleted":
        void this.db.remove([record.groupId, "o", record.topic, record.partition]);
        return;
      case "group":
        void this.db.put([record.groupId, "g"], record);
        return;
      case "consumer-group":
        if (record.group === null) void this.db.remove([record.groupId, "c"]);
        else void this.db.put([record.groupId, "c"], record);
        return;
      case "group-deleted":
        // Array keys sort by their first element, so one group's keys are contiguous from [groupId].
        for (const key of this.db.getKeys({ start: [record.groupId] as unknown as GroupRecordKey })) {
          if (key[0] !== record.groupId) break;
          void this.db.remove(key);
        }
        return;
    }
  }
}
