/** Batch headers read back from a partition log: producer state is rebuilt from them and checked against them. */
import { batchSizeAt, readBatchHeader, type BatchHeader } from "../protocol/record-batch.ts";
import type { PartitionLog } from "../wal/partition-log.ts";

const READ_BYTES = 1 << 20;

/** Whether the log holds the producer's batch at baseOffset: producer state and log must agree before a duplicate is answered. */
export function holdsBatch(partitionLog: PartitionLog, baseOffset: number, batch: BatchHeader): boolean {
  if (baseOffset < partitionLog.logStartOffset || baseOffset >= partitionLog.logEndOffset) return false;
  for (const held of batchHeadersFrom(partitionLog, baseOffset)) {
    return (
      held.baseOffset === baseOffset &&
      held.producerId === batch.producerId &&
      held.producerEpoch === batch.producerEpoch &&
      held.baseSequence === batch.baseSequence &&
      held.recordCount === batch.recordCount
    );
  }
  return false;
}

/** Every batch header from `offset` to the end of the log, read through the mapped segments. */
export function* batchHeadersFrom(partitionLog: PartitionLog, offset: number): Generator<BatchHeader> {
  let next = offset;
  while (next < partitionLog.logEndOffset) {
    const read = partitionLog.read(next, READ_BYTES, { minOneBatch: true });
    if ("outOfRange" in read || read.bytes === 0) return;
    try {
      for (const view of read.batches) {
        for (let pos = 0; pos < view.byteLength; pos += batchSizeAt(view, pos)) {
          const header = readBatchHeader(view, pos);
          if (header.baseOffset + header.lastOffsetDelta < next) continue;
          yield header;
          next = header.baseOffset + header.lastOffsetDelta + 1;
        }
      }
    } finally {
      read.release();
    }
  }
}
