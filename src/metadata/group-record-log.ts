/**
 * The group coordinator's records through the metadata log, as "group-records" commands: every broker keeps them
 * (MetadataState), so a group's next coordinator has its committed offsets, as Kafka's __consumer_offsets gives
 * them to a partition's next leader. The log keeps a group's records only from the broker that coordinates it.
 */
import type { GroupRecordStore } from "../group/group-record-store.ts";
import type { GroupRecord } from "../group/types.ts";
import { ErrorCode, KafkaCodedError } from "../protocol/error-codes.ts";
import type { RaftMetadataLog } from "./metadata-log.ts";

export class GroupRecordLog implements GroupRecordStore {
  constructor(
    private readonly metadata: RaftMetadataLog,
    private readonly nodeId: number,
    /** Names this process's records, which its own groups hold already when they apply. */
    readonly incarnation: string,
  ) {}

  /** Nothing at start: the broker takes its groups over from the log once it knows which it coordinates. */
  load(): GroupRecord[] {
    return [];
  }

  async write(records: GroupRecord[]): Promise<void> {
    let outcomes;
    try {
      outcomes = await this.metadata.propose([{ type: "group-records", coordinatorId: this.nodeId, incarnation: this.incarnation, records }]);
    } catch (error) {
      // Not known to be committed (no quorum, a timeout): the client retries with the coordinator it has.
      throw new KafkaCodedError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `group records not committed: ${String(error)}`, { cause: error });
    }
    const outcome = outcomes[0]!;
    if (outcome.errorCode !== ErrorCode.NONE) {
      throw new KafkaCodedError(outcome.errorCode, "errorMessage" in outcome ? outcome.errorMessage : "group records refused");
    }
  }
}
