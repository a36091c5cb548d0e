/**
 * The log of one partition: an ordered list of segments, the last one active. Appends stamp offsets and the
 * leader epoch into the caller's batches, copy them into the active segment's mapping and hand back a
 * `durable` promise from the group-commit flusher. Reads return views into the mappings plus release().
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { logger } from "../lib/logger.ts";
import {
  BASE_OFFSET_OFFSET,
  BATCH_HEADER_BYTES,
  CURRENT_MAGIC,
  LAST_OFFSET_DELTA_OFFSET,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  batchSizeAt,
  firstRecordAtOrAfter,
  rewriteBaseOffset,
  setLogAppendTime,
  setPartitionLeaderEpoch,
} from "../protocol/record-batch.ts";
import type { FlushParticipant, FlushWork, Flusher } from "./flusher.ts";
import type { LogConfig } from "./log-config.ts";
import { planRetention, type RetentionPlan } from "./retention.ts";
import { isStorageError, Segment } from "./segment.ts";
import { CLEAN_SHUTDOWN_FILE, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE, parseLogFileName } from "./segment-files.ts";

const log = logger("partition-log");
const INT32_MAX = 0x7fffffff;

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`partition log invariant violated: ${message}`);
}

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** -1 when the topic uses CreateTime. */
  logAppendTimeMs: number;
  durable: Promise<void>;
}

export interface ReadResult {
  /** Views into the segment mappings; each holds one or more whole batches, in offset order. */
  batches: Uint8Array[];
  bytes: number;
  /** Must be called once the views are no longer used (e.g. after the socket write completed). */
  release(): void;
}

export interface ReadOptions {
  /** Return the first batch even when it is larger than maxBytes. */
  minOneBatch?: boolean;
  /** Exclusive upper bound on offsets returned, e.g. the high watermark. */
  maxOffset?: number;
}

export interface OutOfRange {
  outOfRange: true;
}

export interface PartitionLogOptions {
  dir: string;
  topic: string;
  partition: number;
  config: LogConfig;
  flusher: Flusher;
  clock: () => number;
}

export interface RecoveryReport {
  clean: boolean;
  segments: number;
  truncatedBytes: number;
  droppedSegments: number;
}

const NO_READ: ReadResult = Object.freeze({ batches: [], bytes: 0, release() {} });

export class PartitionLog implements FlushParticipant {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  logStartOffset = 0;
  /** Offsets below it are replicated; set by the owner (single node: after each durable append). */
  highWatermark = 0;
  /** Everything below this offset is known to be on disk. */
  flushedOffset = 0;
  readonly recovery: RecoveryReport;

  private config: LogConfig;
  private readonly flusher: Flusher;
  private readonly clock: () => number;
  private readonly segments: Segment[] = [];
  private readonly dirtySegments = new Set<Segment>();
  private readonly listeners = new Set<() => void>();
  private unflushedAppends = 0;
  /** Records (Kafka's "messages") appended since the last flush began: flush.messages counts these. */
  private unflushedRecords = 0;
  private directoryNeedsSync = false;
  private recoveryPointStale = false;
  private closed = false;
  /** Wall-clock time the active segment was created or opened. */
  private activeCreatedMs: number;

  private constructor(opts: PartitionLogOptions, clean: boolean) {
    this.topic = opts.topic;
    this.partition = opts.partition;
    this.dir = opts.dir;
    this.config = opts.config;
    this.flusher = opts.flusher;
    this.clock = opts.clock;
    this.activeCreatedMs = opts.clock();
    this.recovery = { clean, segments: 0, truncatedBytes: 0, droppedSegments: 0 };
  }

  /** Opens (creating if needed) and recovers the partition directory. */
  static open(opts: PartitionLogOptions): PartitionLog {
    fs.mkdirSync(opts.dir, { recursive: true });
    const markerPath = path.join(opts.dir, CLEAN_SHUTDOWN_FILE);
    const clean = fs.existsSync(markerPath);
    const partitionLog = new PartitionLog(opts, clean);
    partitionLog.load(clean);
    if (clean) {
      // From here on the files change; a crash must not find a marker vouching for them.
      fs.rmSync(markerPath);
      fsyncPath(opts.dir);
    }
    return partitionLog;
  }

  get logEndOffset(): number {
    return this.active.nextOffset;
  }

  get sizeBytes(): number {
    return this.segments.reduce((n, s) => n + s.sizeBytes, 0);
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Per-segment facts for DescribeLogDirs, metrics and tests. */
  describeSegments(): { baseOffset: number; nextOffset: number; sizeBytes: number; maxTimestampMs: number; offsetIndexEntries: number; timeIndexEntries: number }[] {
    return this.segments.map((s) => ({
      baseOffset: s.baseOffset,
      nextOffset: s.nextOffset,
      sizeBytes: s.sizeBytes,
      maxTimestampMs: s.maxTimestampMs,
      offsetIndexEntries: s.offsetIndex.count,
      timeIndexEntries: s.timeIndex.count,
    }));
  }

  get logConfig(): Readonly<LogConfig> {
    return this.config;
  }

  updateConfig(config: LogConfig): void {
    this.config = config;
  }

  /**
   * Appends already-validated v2 batches (contiguous in records). Offsets, the leader epoch and, for
   * LogAppendTime topics, the timestamp are written into records in place before the copy.
   */
  append(records: Uint8Array, opts: { leaderEpoch: number; logAppendTimeMs?: number }): AppendResult {
    return this.appendBatches(records, opts);
  }

  /**
   * Appends batches exactly as a leader wrote them (a follower replicating): their base offsets, leader epochs
   * and timestamps are kept, and the first must continue this log.
   */
  appendReplicated(records: Uint8Array): AppendResult {
    return this.appendBatches(records, null);
  }

  private appendBatches(records: Uint8Array, opts: { leaderEpoch: number; logAppendTimeMs?: number } | null): AppendResult {
    assert(!this.closed, "append to a closed log");
    assert(records.length >= BATCH_HEADER_BYTES, `append of ${records.length} bytes`);
    const nowMs = this.clock();
    const baseOffset = this.logEndOffset;
    const segmentsBefore = this.segments.length;
    let next = baseOffset;
    let position = 0;
    while (position < records.length) {
      assert(records.length - position >= BATCH_HEADER_BYTES, `truncated batch at ${position}`);
      assert(records[position + MAGIC_OFFSET] === CURRENT_MAGIC, `magic at ${position}`);
      const size = batchSizeAt(records, position);
      assert(size >= BATCH_HEADER_BYTES && position + size <= records.length, `batch size ${size} at ${position}`);
      const lastOffsetDelta = readInt32(records, position + LAST_OFFSET_DELTA_OFFSET);
      assert(lastOffsetDelta >= 0, `lastOffsetDelta ${lastOffsetDelta}`);
      if (opts === null) {
        const batchBaseOffset = readInt64(records, position + BASE_OFFSET_OFFSET);
        assert(batchBaseOffset === next, `replicated batch at offset ${batchBaseOffset} does not continue the log at ${next}`);
      } else {
        rewriteBaseOffset(records, position, next);
        setPartitionLeaderEpoch(records, position, opts.leaderEpoch);
        if (opts.logAppendTimeMs !== undefined) setLogAppendTime(records, position, opts.logAppendTimeMs);
      }
      const lastOffset = next + lastOffsetDelta;
      const maxTimestampMs = readInt64(records, position + MAX_TIMESTAMP_OFFSET);
      try {
        this.maybeRoll(size, lastOffset, maxTimestampMs, nowMs);
        const segment = this.active;
        segment.append(records, position, size, next, lastOffset, maxTimestampMs);
        this.dirtySegments.add(segment);
      } catch (error) {
        // A request is all or nothing: undo the batches of this call already copied (e.g. disk full), and the
        // segments rolled for them, so a refused append leaves the segments as they were.
        if (this.logEndOffset > baseOffset) this.truncateTo(baseOffset);
        while (this.segments.length > segmentsBefore && this.active.isEmpty) this.dropSegment(this.segments.length - 1);
        throw error;
      }
      next = lastOffset + 1;
      position += size;
    }
    this.unflushedAppends++;
    this.unflushedRecords += next - baseOffset;
    const durable = this.flusher.appended(this);
    if (this.flusher.mode === "fast") {
      if (this.unflushedRecords >= this.config.flushMessages) this.flusher.requestFlush();
      else if (this.config.flushMs < this.flusher.intervalMs) this.flusher.requestFlushBy(nowMs + this.config.flushMs);
    }
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        log.error("append listener threw", { topic: this.topic, partition: this.partition, error });
      }
    }
    return { baseOffset, lastOffset: next - 1, logAppendTimeMs: opts?.logAppendTimeMs ?? -1, durable };
  }

  /** Whole batches from the one holding offset, up to maxBytes, below maxOffset. */
  read(offset: number, maxBytes: number, opts: ReadOptions = {}): ReadResult | OutOfRange {
    if (offset < this.logStartOffset || offset > this.logEndOffset) return { outOfRange: true };
    const limit = Math.min(opts.maxOffset ?? Infinity, this.logEndOffset);
    if (offset >= limit) return NO_READ;
    const batches: Uint8Array[] = [];
    const held: Segment[] = [];
    let bytes = 0;
    let full = false;
    const first = this.segmentIndexFor(offset);
    for (let i = first; i < this.segments.length && !full; i++) {
      const segment = this.segments[i]!;
      let position = i === first ? segment.findPosition(offset) : 0;
      if (position < 0) continue;
      const start = position;
      while (position < segment.sizeBytes) {
        if (segment.lastOffsetAt(position) >= limit) {
          full = true;
          break;
        }
        const size = segment.batchBytesAt(position);
        if (bytes + size > maxBytes && !(opts.minOneBatch === true && bytes === 0)) {
          full = true;
          break;
        }
        bytes += size;
        position += size;
      }
      if (position > start) {
        segment.acquire();
        held.push(segment);
        batches.push(segment.view(start, position - start));
      }
    }
    if (held.length === 0) return NO_READ;
    let released = false;
    return {
      batches,
      bytes,
      release() {
        assert(!released, "read released twice");
        released = true;
        for (const segment of held) segment.release();
      },
    };
  }

  /** The first offset whose timestamp is >= timestampMs (ListOffsets), or null if none. */
  offsetForTimestamp(timestampMs: number): { offset: number; timestamp: number } | null {
    for (const segment of this.segments) {
      if (segment.nextOffset <= this.logStartOffset) continue;
      const position = segment.findTimestampPosition(timestampMs);
      if (position < 0) continue;
      const found = firstRecordAtOrAfter(segment.view(position, segment.batchBytesAt(position)), 0, timestampMs);
      if (found === null) continue;
      return { offset: Math.max(found.offset, this.logStartOffset), timestamp: found.timestamp };
    }
    return null;
  }

  /** Largest timestamp in the log and the last offset of its batch (ListOffsets MAX_TIMESTAMP); -1s if empty. */
  maxTimestamp(): { offset: number; timestamp: number } {
    let best = { offset: -1, timestamp: -1 };
    for (const segment of this.segments) {
      if (segment.maxTimestampMs > best.timestamp) best = { offset: segment.offsetOfMaxTimestamp, timestamp: segment.maxTimestampMs };
    }
    return best;
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Removes every batch from the one holding offset onwards (a follower diverging from its leader). */
  truncateTo(offset: number): void {
    assert(!this.closed, "truncate of a closed log");
    assert(Number.isSafeInteger(offset) && offset >= 0, `truncate offset ${offset}`);
    if (offset >= this.logEndOffset) return;
    while (this.segments.length > 1 && this.active.baseOffset > offset) this.dropSegment(this.segments.length - 1);
    if (this.active.baseOffset > offset) {
      this.dropSegment(0);
      this.createSegment(offset, this.config.segmentBytes);
      this.setLogStartOffset(offset);
    } else {
      this.active.truncateTo(offset);
    }
    this.dirtySegments.add(this.active);
    this.highWatermark = Math.min(this.highWatermark, this.logEndOffset);
    this.flushedOffset = Math.min(this.flushedOffset, this.logEndOffset);
    this.lowerRecoveryPoint(this.logEndOffset);
    this.flusher.appended(this);
  }

  /**
   * Empties the log and starts it again at `offset`: a follower whose leader no longer holds the offsets this
   * log lacks (retention removed them) continues from the leader's log start.
   */
  restartAt(offset: number): void {
    assert(!this.closed, "restart of a closed log");
    assert(Number.isSafeInteger(offset) && offset >= this.logEndOffset, `restart at ${offset} below the log end ${this.logEndOffset}`);
    // The saved log start goes first: if the disk refuses it nothing has changed, and if the rest is cut short, a
    // saved log start past the log end is what makes the next open restart the log there. The new segment comes
    // before the old ones go, so no failure leaves the log without one.
    this.saveLogStartOffset(offset);
    if (!(this.active.isEmpty && this.active.baseOffset === offset)) this.createSegment(offset, this.config.segmentBytes);
    while (this.segments.length > 1) this.dropSegment(0);
    this.logStartOffset = offset;
    this.highWatermark = offset;
    this.flushedOffset = offset;
    // Raised by the next flush: until then the lower one only makes a recovery check more.
    this.recoveryPointStale = true;
    this.flusher.appended(this);
  }

  /**
   * Advances the log start offset (DeleteRecords); whole segments below it go at the next retention pass. A disk
   * that refuses to save it (full) gets those segments removed first, which needs no space and leaves the first
   * segment starting at or below the offset, a log start the next open finds without the file; then the save is
   * tried again. If the disk still refuses it, this throws with the log starting at that first segment.
   */
  deleteRecordsBefore(offset: number): void {
    assert(offset <= this.highWatermark, `delete records up to ${offset} beyond high watermark ${this.highWatermark}`);
    if (offset <= this.logStartOffset) return;
    try {
      this.setLogStartOffset(offset);
    } catch (error) {
      if (!isStorageError(error) || !this.dropSegmentsBelow(offset)) throw error;
      log.warn("the disk refused the log start; removed the segments below it and saving it again", { topic: this.topic, partition: this.partition, offset });
      this.setLogStartOffset(offset);
    }
  }

  /** Removes the sealed segments that hold only offsets below `offset`; false if there were none. */
  private dropSegmentsBelow(offset: number): boolean {
    const before = this.segments.length;
    while (this.segments.length > 1 && this.segments[0]!.nextOffset <= offset) this.dropSegment(0);
    if (this.segments.length === before) return false;
    this.logStartOffset = Math.max(this.logStartOffset, this.segments[0]!.baseOffset);
    return true;
  }

  /** Deletes old segments per retention.ms / retention.bytes / log start offset. */
  applyRetention(nowMs: number): RetentionPlan {
    assert(!this.closed, "retention on a closed log");
    const plan = planRetention({
      segments: this.segments.map((s) => ({ baseOffset: s.baseOffset, nextOffset: s.nextOffset, sizeBytes: s.sizeBytes, maxTimestampMs: s.maxTimestampMs })),
      retentionMs: this.config.retentionMs,
      retentionBytes: this.config.retentionBytes,
      logStartOffset: this.logStartOffset,
      upperBoundOffset: this.highWatermark,
      nowMs,
    });
    if (plan.deleteCount === 0) return plan;
    // Every segment goes: an empty one takes over at the log end. The active one is not rolled (trimmed, its
    // indexes saved), as it is deleted anyway and a full disk, which retention may be about to relieve, refuses writes.
    if (plan.deleteCount === this.segments.length) this.createSegment(this.active.nextOffset, this.config.segmentBytes);
    for (let i = 0; i < plan.deleteCount; i++) this.dropSegment(0);
    // Nothing to save: the first segment left starts at the new log start, or the saved log start is already there.
    this.logStartOffset = plan.logStartOffset;
    log.info("retention deleted segments", { topic: this.topic, partition: this.partition, count: plan.deleteCount, reason: plan.reason });
    return plan;
  }

  beginFlush(): FlushWork | null {
    if (this.closed) return null;
    if (this.dirtySegments.size === 0 && !this.directoryNeedsSync) return null;
    // Opened before any state changes: if it fails (out of file descriptors) the partition stays dirty for a retry.
    const dirFd = this.directoryNeedsSync ? fs.openSync(this.dir, "r") : -1;
    const segments = [...this.dirtySegments];
    this.dirtySegments.clear();
    const fds: number[] = [];
    const held: Segment[] = [];
    let bytes = 0;
    for (const segment of segments) {
      if (!segment.isMapped) continue;
      segment.acquire();
      held.push(segment);
      fds.push(segment.fd);
      bytes += segment.unflushedBytes;
      segment.unflushedBytes = 0;
    }
    this.directoryNeedsSync = false;
    if (dirFd >= 0) fds.push(dirFd);
    const appends = this.unflushedAppends;
    this.unflushedAppends = 0;
    this.unflushedRecords = 0;
    const coveredOffset = this.logEndOffset;
    return {
      fds,
      bytes,
      appends,
      finish: (error) => {
        for (const segment of held) segment.release();
        if (dirFd >= 0) fs.closeSync(dirFd);
        if (error !== null || this.closed) return;
        this.flushedOffset = Math.max(this.flushedOffset, Math.min(coveredOffset, this.logEndOffset));
        if (this.recoveryPointStale) {
          try {
            this.writeRecoveryPoint(this.flushedOffset);
            this.recoveryPointStale = false;
          } catch (checkpointError) {
            // The data is durable all the same; a stale recovery point only makes the next recovery check more.
            log.warn("could not write the recovery point; retried after the next flush", { dir: this.dir, error: checkpointError });
          }
        }
      },
    };
  }

  /** Trims the active segment, saves indexes and marks the directory clean; the flusher must have run. */
  closeClean(): void {
    assert(!this.closed, "log closed twice");
    const active = this.active;
    active.trim();
    const fd = active.fd;
    fs.fsyncSync(fd);
    for (const segment of this.segments) segment.writeIndexes();
    this.writeRecoveryPoint(this.logEndOffset);
    fs.writeFileSync(path.join(this.dir, CLEAN_SHUTDOWN_FILE), "");
    fsyncPath(this.dir);
    this.releaseAll();
  }

  /** Closes without trimming or a clean marker (topic deletion, or tests simulating a crash). */
  closeDirty(): void {
    this.releaseAll();
  }

  private releaseAll(): void {
    this.closed = true;
    this.listeners.clear();
    this.dirtySegments.clear();
    for (const segment of this.segments) segment.close();
    this.segments.length = 0;
  }

  private get active(): Segment {
    const segment = this.segments[this.segments.length - 1];
    assert(segment !== undefined, "a log always has an active segment");
    return segment;
  }

  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid]!.baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  private maybeRoll(batchBytes: number, lastOffset: number, batchTimestampMs: number, nowMs: number): void {
    const active = this.active;
    const capacityBytes = Math.min(INT32_MAX, Math.max(this.config.segmentBytes, batchBytes));
    if (active.isEmpty) {
      // An empty segment too small for this batch is replaced by a big enough one at the same offset.
      if (active.remainingBytes < batchBytes) {
        this.dropSegment(this.segments.length - 1);
        this.createSegment(active.baseOffset, capacityBytes);
      }
      return;
    }
    const tooFull = active.remainingBytes < batchBytes;
    // As Kafka: segment.ms compares the new batch's timestamp with the first batch's, so clients sending old
    // timestamps do not roll a segment per append; without timestamps the segment's creation time counts.
    const waitedMs = active.firstBatchTimestampMs >= 0 ? batchTimestampMs - active.firstBatchTimestampMs : nowMs - this.activeCreatedMs;
    const tooOld = waitedMs > this.config.segmentMs;
    if (tooFull || tooOld || !active.canHoldOffset(lastOffset)) this.roll(capacityBytes);
  }

  private roll(capacityBytes: number): void {
    const previous = this.active;
    if (previous.isEmpty) return;
    previous.trim();
    previous.writeIndexes();
    this.createSegment(previous.nextOffset, capacityBytes);
    this.recoveryPointStale = true;
  }

  private createSegment(baseOffset: number, capacityBytes: number): Segment {
    const segment = Segment.create(this.dir, baseOffset, Math.min(INT32_MAX, capacityBytes), this.config.indexIntervalBytes);
    this.segments.push(segment);
    this.activeCreatedMs = this.clock();
    this.directoryNeedsSync = true;
    return segment;
  }

  private dropSegment(index: number): void {
    const [segment] = this.segments.splice(index, 1);
    assert(segment !== undefined, `no segment ${index}`);
    this.dirtySegments.delete(segment);
    segment.delete();
    this.directoryNeedsSync = true;
  }

  /** Saves the log start, then moves it: a disk that refuses the file (full) leaves the log start where it was. */
  private setLogStartOffset(offset: number): void {
    this.saveLogStartOffset(offset);
    this.logStartOffset = offset;
  }

  /**
   * On open the log starts at the larger of the saved offset and the first segment's base, so the file must be
   * written before the log start moves past that base, never after.
   */
  private saveLogStartOffset(offset: number): void {
    const file = path.join(this.dir, LOG_START_OFFSET_FILE);
    fs.writeFileSync(`${file}.tmp`, String(offset));
    fs.renameSync(`${file}.tmp`, file);
  }

  private readRecoveryPoint(): number {
    return readNumberFile(path.join(this.dir, RECOVERY_POINT_FILE)) ?? 0;
  }

  private writeRecoveryPoint(offset: number): void {
    const file = path.join(this.dir, RECOVERY_POINT_FILE);
    fs.writeFileSync(`${file}.tmp`, String(offset));
    fs.renameSync(`${file}.tmp`, file);
  }

  /**
   * The log lost its tail: a recovery point past the new end would let recovery trust a segment rewritten after it.
   * If the disk refuses the lower one, the file goes (removing needs no space) and recovery checks every segment.
   */
  private lowerRecoveryPoint(offset: number): void {
    if (this.readRecoveryPoint() <= offset) return;
    try {
      this.writeRecoveryPoint(offset);
    } catch (error) {
      log.warn("could not lower the recovery point; removing it, so the next recovery checks every segment", { dir: this.dir, error });
      fs.rmSync(path.join(this.dir, RECOVERY_POINT_FILE), { force: true });
    }
  }

  /**
   * Opens every segment. After a clean shutdown saved indexes are trusted; otherwise every segment that may
   * hold offsets at or past the recovery point is CRC-checked batch by batch, a bad or torn tail is cut off
   * and any segment after a cut is dropped, since the log must stay contiguous.
   */
  private load(clean: boolean): void {
    const bases = fs.readdirSync(this.dir).map(parseLogFileName).filter((b): b is number => b !== null).sort((a, b) => a - b);
    const recoveryPoint = this.readRecoveryPoint();
    for (let i = 0; i < bases.length; i++) {
      const base = bases[i]!;
      const nextBase = bases[i + 1];
      const verifyCrc = !clean && (nextBase === undefined || nextBase > recoveryPoint);
      const sealed = nextBase !== undefined;
      const { segment, recovery } = Segment.open(this.dir, base, this.config.segmentBytes, this.config.indexIntervalBytes, { verifyCrc, sealed });
      this.segments.push(segment);
      this.recovery.truncatedBytes += recovery.truncatedBytes;
      if (recovery.truncatedBytes > 0) {
        log.warn("truncated invalid tail", { dir: this.dir, segment: base, bytes: recovery.truncatedBytes, nextOffset: segment.nextOffset });
      }
      if (nextBase !== undefined && segment.nextOffset !== nextBase) {
        for (const later of bases.slice(i + 1)) {
          log.warn("dropping segment after a gap", { dir: this.dir, segment: later, expected: segment.nextOffset });
          const { segment: dropped } = Segment.open(this.dir, later, this.config.segmentBytes, this.config.indexIntervalBytes, { verifyCrc: false, sealed: true });
          dropped.delete();
          this.recovery.droppedSegments++;
        }
        break;
      }
    }
    const savedStart = readNumberFile(path.join(this.dir, LOG_START_OFFSET_FILE)) ?? 0;
    if (this.segments.length === 0) {
      this.createSegment(savedStart, this.config.segmentBytes);
    } else if (savedStart > this.logEndOffset) {
      // Never hand out again offsets that were once below the log start.
      while (this.segments.length > 0) this.dropSegment(0);
      this.createSegment(savedStart, this.config.segmentBytes);
    }
    this.logStartOffset = Math.max(savedStart, this.segments[0]!.baseOffset);
    this.recovery.segments = this.segments.length;
    this.flushedOffset = this.logEndOffset;
    // What survived recovery is on disk; a replicated owner lowers this to its checkpointed high watermark.
    this.highWatermark = this.logEndOffset;
  }
}

function readInt32(view: Uint8Array, at: number): number {
  return (view[at]! << 24) | (view[at + 1]! << 16) | (view[at + 2]! << 8) | view[at + 3]!;
}

function readInt64(view: Uint8Array, at: number): number {
  return readInt32(view, at) * 0x1_0000_0000 + (readInt32(view, at + 4) >>> 0);
}

function readNumberFile(file: string): number | null {
  try {
    const value = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isSafeInteger(value) && value >= 0 ? value : null;
  } catch {
    return null;
  }
}

/** fsync of a file or a directory, by path (opened read-only: a directory cannot be opened for writing). */
export function fsyncPath(target: string): void {
  const fd = fs.openSync(target, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
