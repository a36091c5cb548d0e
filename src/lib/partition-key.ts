/** A map key for one partition of a topic (by name or by topic id); NUL cannot occur in either. */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** The prefix every key of the topic's partitions starts with. */
export function partitionKeyPrefix(topic: string): string {
  return `${topic}\u0000`;
}
