/**
 * Which broker coordinates a group. There is one per group across the cluster, so a group has one set of members
 * and one place for its committed offsets; every broker computes the same answer from the registered brokers in
 * its metadata. Rendezvous hashing: each broker scores hash(group, broker) and the highest score wins (ties go to
 * the lower id), so adding a broker moves only the groups it wins and removing one moves only its own.
 *
 * Fenced brokers take part: a group stays with its coordinator while that broker is down (clients are told
 * COORDINATOR_NOT_AVAILABLE and keep fetching what they were assigned) instead of moving to a broker that does not
 * hold its committed offsets.
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
