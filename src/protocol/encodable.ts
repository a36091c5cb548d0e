declare const recordsBrand: unique symbol;

/**
 * A decoded `records` field: a view of the record batches inside the frame. The brand lets Encodable
 * tell records (which a writer appends without copying, from one view or several) from plain bytes.
 */
export type RecordsView = Uint8Array & { readonly [recordsBrand]: true };

/** What a writer accepts for a `records` field: one view, several views sent back to back, or null. */
export type EncodableRecords = Uint8Array | readonly Uint8Array[];

/**
 * The shape a writer accepts for a message type: every field optional, recursively.
 * Fields left out are written with their schema default, so a handler fills only what it knows.
 */
export type Encodable<T> = T extends RecordsView
  ? EncodableRecords
  : T extends Uint8Array
    ? T
    : T extends readonly (infer E)[]
      ? readonly Encodable<E>[]
      : T extends object
        ? { [K in keyof T]?: Encodable<T[K]> }
        : T;
