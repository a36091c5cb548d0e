/**
 * Producer ids for InitProducerId, handed out from blocks reserved in the metadata log, as Kafka's
 * ProducerIdControlManager (controller) and RPCProducerIdManager (broker) do. The metadata log only
 * ever records the start of the next unreserved block, so an id is never handed out twice, across
 * restarts too: ids of a block left unused when a broker stops are simply skipped.
 */

/** Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE. */
export const DEFAULT_PRODUCER_ID_BLOCK_SIZE = 1000;
/** Kafka asks for the next block once 90% of the current one is used, so InitProducerId rarely waits. */
export const DEFAULT_PREFETCH_FRACTION = 0.9;

export interface ProducerIdBlock {
  readonly firstProducerId: number;
  readonly size: number;
}

/** Controller side: reserves [nextBlockStartId, nextBlockStartId + size); record the returned start in the metadata log. */
export function reserveProducerIdBlock(
  nextBlockStartId: number,
  size: number = DEFAULT_PRODUCER_ID_BLOCK_SIZE,
): { block: ProducerIdBlock; nextBlockStartId: number } {
  if (!Number.isSafeInteger(nextBlockStartId) || nextBlockStartId < 0) throw new RangeError(`next block start ${nextBlockStartId} is invalid`);
  if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`producer id block size ${size} must be a positive integer`);
  const next = nextBlockStartId + size;
  if (!Number.isSafeInteger(next)) throw new RangeError(`producer id space exhausted at ${nextBlockStartId}`);
  return { block: { firstProducerId: nextBlockStartId, size }, nextBlockStartId: next };
}

export type NextProducerId = { kind: "id"; producerId: number } | { kind: "need-block" };

/**
 * Broker side: hands out ids from the current block and holds at most one prefetched block.
 * The caller asks the controller for a block when needsBlock() is true, calls onBlockRequested()
 * so it asks once, and installBlock() with the answer. "need-block" means no id is available yet
 * (Kafka answers InitProducerId with COORDINATOR_LOAD_IN_PROGRESS then, which clients retry).
 */
export class ProducerIdBlockAllocator {
  readonly prefetchFraction: number;
  private current: ProducerIdBlock | null = null;
  private nextId = 0;
  private prefetched: ProducerIdBlock | null = null;
  private requestInFlight = false;
  /** End of the highest block installed; a new block below it would hand out an id twice. */
  private installedEndId = 0;

  constructor(options: { prefetchFraction?: number } = {}) {
    this.prefetchFraction = options.prefetchFraction ?? DEFAULT_PREFETCH_FRACTION;
    if (!(this.prefetchFraction >= 0 && this.prefetchFraction <= 1)) {
      throw new RangeError(`prefetchFraction ${this.prefetchFraction} must be within [0, 1]`);
    }
  }

  next(): NextProducerId {
    if (this.current === null || this.nextId >= this.current.firstProducerId + this.current.size) {
      if (this.prefetched === null) {
        this.current = null;
        return { kind: "need-block" };
      }
      this.current = this.prefetched;
      this.nextId = this.current.firstProducerId;
      this.prefetched = null;
    }
    const producerId = this.nextId;
    this.nextId += 1;
    return { kind: "id", producerId };
  }

  /** True when a block should be requested now: none is pending, in flight, or the current one is nearly used. */
  needsBlock(): boolean {
    if (this.requestInFlight || this.prefetched !== null) return false;
    if (this.current === null) return true;
    const used = this.nextId - this.current.firstProducerId;
    return used >= this.current.size * this.prefetchFraction;
  }

  onBlockRequested(): void {
    if (this.requestInFlight) throw new Error("a producer id block request is already in flight");
    this.requestInFlight = true;
  }

  /** Installs a block from the controller; it must lie wholly above every id already handed out. */
  installBlock(block: ProducerIdBlock): void {
    if (!Number.isSafeInteger(block.firstProducerId) || block.firstProducerId < 0 || !Number.isSafeInteger(block.size) || block.size < 1) {
      throw new RangeError(`invalid producer id block ${JSON.stringify(block)}`);
    }
    if (block.firstProducerId < this.installedEndId) {
      throw new Error(`producer id block at ${block.firstProducerId} overlaps installed ids below ${this.installedEndId}`);
    }
    if (this.prefetched !== null) throw new Error("a prefetched producer id block is already held");
    this.requestInFlight = false;
    this.installedEndId = block.firstProducerId + block.size;
    if (this.current === null || this.nextId >= this.current.firstProducerId + this.current.size) {
      this.current = block;
      this.nextId = block.firstProducerId;
      return;
    }
    this.prefetched = block;
  }

  /** Forgets an in-flight request that failed, so needsBlock() asks again. */
  onBlockRequestFailed(): void {
    this.requestInFlight = false;
  }
}
