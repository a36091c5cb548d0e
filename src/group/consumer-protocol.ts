/**
 * The topics a "consumer" protocol member subscribes to, read from its JoinGroup metadata (a
 * ConsumerProtocolSubscription). Like Kafka's coordinator, it checks the version prefix and then reads
 * the version 0 fields, which every later version starts with. Returns null for bytes that do not
 * parse: the coordinator then does not know the subscription.
 */
import { readConsumerProtocolSubscription } from "../protocol/generated/consumer-protocol.ts";
import { ProtocolError, Reader } from "../protocol/reader.ts";

export function decodeSubscriptionTopics(bytes: Uint8Array): string[] | null {
  try {
    const reader = new Reader(bytes);
    if (reader.readInt16() < 0) return null;
    return readConsumerProtocolSubscription(reader, 0).topics;
  } catch (error) {
    if (error instanceof ProtocolError) return null;
    throw error;
  }
}
