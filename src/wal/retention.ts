/**
 * Retention planning: a pure function from segment stats, config, offsets and the current time to how many of
 * the oldest segments to delete. Only a prefix of the log is ever deleted, as in Kafka.
 */

export interface SegmentStats {
  baseOffset: number;
  /** Offset after the segment's last batch. */
  nextOffset: number;
  sizeBytes: number;
  /** -1 for an empty segment. */
  maxTimestampMs: number;
}

export interface RetentionInput {
  segments: readonly SegmentStats[];
  retentionMs: number;
  retentionBytes: number;
  logStartOffset: number;
  /** Segments are only deleted once wholly below this (the high watermark), so no uncommitted data goes. */
  upperBoundOffset: number;
  nowMs: number;
}

export interface RetentionPlan {
  /** How many of the oldest segments to delete; may include the last one, which the caller then rolls first. */
  deleteCount: number;
  reason: "none" | "retention.ms" | "retention.bytes" | "log-start-offset";
  /** Log start offset once they are gone (never lower than before). */
  logStartOffset: number;
}

export function planRetention(input: RetentionInput): RetentionPlan {
  const { segments, retentionMs, retentionBytes, logStartOffset, upperBoundOffset, nowMs } = input;
  for (let i = 1; i < segments.length; i++) {
    if (segments[i]!.baseOffset < segments[i - 1]!.baseOffset) throw new Error("segments must be sorted by base offset");
  }
  const eligible = (i: number): boolean => {
    const segment = segments[i]!;
    return segment.sizeBytes > 0 && segment.nextOffset <= upperBoundOffset;
  };

  let byTime = 0;
  if (retentionMs >= 0) {
    while (byTime < segments.length && eligible(byTime) && nowMs - segments[byTime]!.maxTimestampMs > retentionMs) byTime++;
  }

  let bySize = 0;
  if (retentionBytes >= 0) {
    let excessBytes = segments.reduce((sum, s) => sum + s.sizeBytes, 0) - retentionBytes;
    while (bySize < segments.length && eligible(bySize) && excessBytes - segments[bySize]!.sizeBytes >= 0) {
      excessBytes -= segments[bySize]!.sizeBytes;
      bySize++;
    }
  }

  // A segment wholly below the log start offset holds nothing readable; the last one never qualifies.
  let byStart = 0;
  while (byStart < segments.length - 1 && segments[byStart + 1]!.baseOffset <= logStartOffset) byStart++;

  const deleteCount = Math.max(byTime, bySize, byStart);
  if (deleteCount === 0) return { deleteCount: 0, reason: "none", logStartOffset };
  const reason = deleteCount === byTime ? "retention.ms" : deleteCount === bySize ? "retention.bytes" : "log-start-offset";
  const nextStart = deleteCount < segments.length ? segments[deleteCount]!.baseOffset : segments[segments.length - 1]!.nextOffset;
  return { deleteCount, reason, logStartOffset: Math.max(logStartOffset, nextStart) };
}
