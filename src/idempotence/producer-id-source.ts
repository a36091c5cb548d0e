import { ProducerIdBlockAllocator, DEFAULT_PRODUCER_ID_BLOCK_SIZE } from "./producer-id-block.ts";

/**
 * The broker's edge around ProducerIdBlockAllocator: asks the controller for blocks (recorded in the
 * metadata log) ahead of need, and waits for one when the current block is used up.
 */
export class ProducerIdSource {
  private readonly allocator = new ProducerIdBlockAllocator();
  private pending: Promise<void> | null = null;

  constructor(
    private readonly reserveBlock: (size: number) => Promise<number>,
    private readonly blockSize = DEFAULT_PRODUCER_ID_BLOCK_SIZE,
  ) {}

  async next(): Promise<number> {
    for (;;) {
      this.prefetch();
      const next = this.allocator.next();
      if (next.kind === "id") return next.producerId;
      await this.pending;
    }
  }

  private prefetch(): void {
    if (!this.allocator.needsBlock()) return;
    this.allocator.onBlockRequested();
    this.pending = this.reserveBlock(this.blockSize).then(
      (firstProducerId) => {
        this.allocator.installBlock({ firstProducerId, size: this.blockSize });
        this.pending = null;
      },
      (error) => {
        this.allocator.onBlockRequestFailed();
        this.pending = null;
        throw error;
      },
    );
    // A failed prefetch surfaces to whoever waits on it; nobody waiting is not an error.
    this.pending.catch(() => undefined);
  }
}
