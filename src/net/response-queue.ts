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

interface TurnWaiter {
  readonly ticket: number;
  readonly resolve: () => void;
}

export class ResponseQueue {
  private readonly slots: (Outgoing | undefined)[] = [];
  private head = 0;
  /** In ticket order; at most one per request in flight, so bounded by the connection's in-flight limit. */
  private readonly turnWaiters: TurnWaiter[] = [];

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
    while (this.turnWaiters.length > 0 && this.turnWaiters[0]!.ticket <= this.head) this.turnWaiters.shift()!.resolve();
    return ready;
  }

  /** null when every request before `ticket` is answered; else a promise that resolves once they are. */
  answeredBefore(ticket: number): Promise<void> | null {
    if (ticket < this.head || ticket >= this.head + this.slots.length || this.slots[ticket - this.head] !== undefined) {
      throw new Error(`response ticket ${ticket} is not waiting for its answer`);
    }
    if (ticket === this.head) return null;
    return new Promise((resolve) => {
      let at = this.turnWaiters.length;
      while (at > 0 && this.turnWaiters[at - 1]!.ticket > ticket) at--;
      this.turnWaiters.splice(at, 0, { ticket, resolve });
    });
  }

  get pending(): number {
    return this.slots.length;
  }
}
