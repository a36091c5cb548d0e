/** What the chaos workload observed: every send, acknowledgement, failure and read, in the order seen. */
export type HistoryEvent =
  | { kind: "send"; process: string; value: string; atMs: number }
  | { kind: "ack"; process: string; value: string; partition: number; offset: number; atMs: number }
  | { kind: "fail"; process: string; value: string; error: string; atMs: number }
  | { kind: "read"; process: string; value: string; partition: number; offset: number; atMs: number }
  /** A group consumer was given a partition: it may start there from an earlier commit, below what it read. */
  | { kind: "assign"; process: string; partition: number; atMs: number };

export function formatEvent(event: HistoryEvent): string {
  const at = `${(event.atMs / 1000).toFixed(3)}s`;
  switch (event.kind) {
    case "send":
      return `${at} ${event.process} send ${event.value}`;
    case "fail":
      return `${at} ${event.process} fail ${event.value} ${event.error}`;
    case "assign":
      return `${at} ${event.process} assign ${event.partition}`;
    default:
      return `${at} ${event.process} ${event.kind} ${event.value} at ${event.partition}:${event.offset}`;
  }
}

/**
 * Parses one line of a workload client's output (test/chaos/py): "send V", "ack P O V", "fail V ERROR",
 * "read P O V", "assign P". Anything else (log noise) is null.
 */
export function parseEventLine(line: string, process: string, atMs: number): HistoryEvent | null {
  const parts = line.trim().split(" ");
  switch (parts[0]) {
    case "send":
      return parts.length === 2 ? { kind: "send", process, value: parts[1]!, atMs } : null;
    case "fail":
      return parts.length >= 2 ? { kind: "fail", process, value: parts[1]!, error: parts.slice(2).join(" "), atMs } : null;
    case "assign": {
      const partition = Number(parts[1]);
      return parts.length === 2 && Number.isInteger(partition) ? { kind: "assign", process, partition, atMs } : null;
    }
    case "ack":
    case "read": {
      if (parts.length !== 4) return null;
      const partition = Number(parts[1]);
      const offset = Number(parts[2]);
      if (!Number.isInteger(partition) || !Number.isInteger(offset)) return null;
      return { kind: parts[0], process, value: parts[3]!, partition, offset, atMs };
    }
    default:
      return null;
  }
}
