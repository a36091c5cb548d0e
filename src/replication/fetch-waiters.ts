/**
 * Long-poll fetches park here until one of their partitions gets new readable data or their wait
 * ends. Keys are partitionKey(topic, partition); wakes are cheap when nobody waits.
 */
export class FetchWaiters {
  private readonly waiters = new Map<string, Set<() => void>>();
  private parked = 0;

  constructor(private readonly maxParked: number) {}

  get parkedCount(): number {
    return this.parked;
  }

  /**
   * Resolves when any of the keys is woken or after timeoutMs, whichever is first. Returns null when it cannot
   * park (no keys, no time left, over the bound): the fetch then answers with what it has, rather than looping.
   */
  wait(keys: readonly string[], timeoutMs: number): Promise<void> | null {
    if (keys.length === 0 || timeoutMs <= 0 || this.parked >= this.maxParked) return null;
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.parked--;
        for (const key of keys) {
          const set = this.waiters.get(key);
          if (!set) continue;
          set.delete(finish);
          if (set.size === 0) this.waiters.delete(key);
        }
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.parked++;
      for (const key of keys) {
        let set = this.waiters.get(key);
        if (!set) this.waiters.set(key, (set = new Set()));
        set.add(finish);
      }
    });
  }

  wake(key: string): void {
    const set = this.waiters.get(key);
    if (!set) return;
    for (const finish of [...set]) finish();
  }

  wakeAll(): void {
    for (const key of [...this.waiters.keys()]) this.wake(key);
  }
}
