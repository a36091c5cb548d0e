/**
 * Kafka clients match responses to requests by order as well as correlation id, so a connection
 * answers in request order even when a later request's handler finishes first.
 */
export interface Response {
  readonly chunks: readonly Uint8Array[];
  /** Called once every chunk has been handed to the kernel, or the connection closed: releases views it borrowed. */
  readonly onWritten?: () => void;
}

/** null: the request gets no response. */
export type Outgoing = Response | null;

export class ResponseQueue {
  private readonly slots: (Outgoing | undefined)[] = [];
  private head = 0;

  /** Reserves the next position; returns its ticket. */
  reserve(): number {
    this.slots.push(undefined);
    return this.head + this.slots.length - 1;
  }

  /** Fills a reserved position (null = the request gets no response) and returns what may be written now, in order. */
  complete(ticket: number, outgoing: Outgoing): Outgoing[] {
    const index = ticket - this.head;
    if (index < 0 || index >= this.slots.length || this.slots[index] !== undefined) {
      throw new Error(`response ticket ${ticket} completed twice or never reserved`);
    }
    this.slots[index] = outgoing;
    const ready: Outgoing[] = [];
    while (this.slots.length > 0 && this.slots[0] !== undefined) {
      ready.push(this.slots.shift()!);
      this.head++;
    }
    return ready;
  }

  get pending(): number {
    return this.slots.length;
  }
}
