/**
 * The shape a writer accepts for a message type: every field optional, recursively.
 * Fields left out are written with their schema default, so a handler fills only what it knows.
 */
export type Encodable<T> = T extends Uint8Array
  ? T
  : T extends readonly (infer E)[]
    ? readonly Encodable<E>[]
    : T extends object
      ? { [K in keyof T]?: Encodable<T[K]> }
      : T;
