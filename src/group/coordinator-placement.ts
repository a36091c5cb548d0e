/**
 * Which broker coordinates a group. There is one per group across the cluster, so a group has one set of members
 * and one writer of its records; every broker computes the same answer from the live brokers in its metadata.
 * Rendezvous hashing: each broker scores hash(group, broker) and the highest score wins (ties go to the lower id),
 * so a broker that joins takes only the groups it wins, and one that leaves hands on only its own.
 */
export function groupCoordinatorId(groupId: string, brokerIds: Iterable<number>): number | undefined {
  let best: number | undefined;
  let bestScore = -1;
  for (const brokerId of brokerIds) {
    const score = rendezvousScore(groupId, brokerId);
    if (score > bestScore || (score === bestScore && brokerId < best!)) {
      best = brokerId;
      bestScore = score;
    }
  }
  return best;
}

const encoder = new TextEncoder();

/** FNV-1a over the group id's UTF-8 bytes and the broker id, then murmur3's finalizer to spread the bits. */
function rendezvousScore(groupId: string, brokerId: number): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(groupId)) hash = Math.imul(hash ^ byte, 0x01000193);
  for (let shift = 0; shift < 32; shift += 8) hash = Math.imul(hash ^ ((brokerId >>> shift) & 0xff), 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
