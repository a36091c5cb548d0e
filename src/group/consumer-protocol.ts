/**
 * Reads the topic list out of a ConsumerProtocolSubscription (versions 0..3 and later: every version
 * starts with the version and the topics array), the way Kafka's coordinator learns what a consumer
 * group is subscribed to. Returns null for bytes that do not parse; the caller then knows nothing.
 */
export function decodeSubscriptionTopics(bytes: Uint8Array): string[] | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  if (bytes.byteLength < 2 + 4) return null;
  const version = view.getInt16(offset);
  offset += 2;
  if (version < 0) return null;
  const topicCount = view.getInt32(offset);
  offset += 4;
  // Each topic needs at least its two length bytes, which bounds a hostile count.
  if (topicCount < 0 || topicCount * 2 > bytes.byteLength - offset) return null;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const topics: string[] = [];
  for (let i = 0; i < topicCount; i++) {
    if (offset + 2 > bytes.byteLength) return null;
    const nameBytes = view.getInt16(offset);
    offset += 2;
    if (nameBytes < 0 || offset + nameBytes > bytes.byteLength) return null;
    try {
      topics.push(decoder.decode(bytes.subarray(offset, offset + nameBytes)));
    } catch {
      return null;
    }
    offset += nameBytes;
  }
  return topics;
}
