import { afterEach, describe, expect, test } from "bun:test";
import { waitFor } from "../helpers/wait.ts";
import { Flusher, MAX_ROUNDS_IN_FLIGHT, OVERLAP_MAX_BYTES, type FlushParticipant, type FlushWork } from "../../src/wal/flusher.ts";

/** A sync the test finishes by hand. */
interface PendingSync {
  fd: number;
  succeed(): void;
  fail(error: Error): void;
}

/** A partition stand-in: every append makes it dirty; each flush hands out its fd and records what finished. */
class FakeParticipant implements FlushParticipant {
  appends = 0;
  readonly finished: (Error | null)[] = [];
  constructor(
    readonly fd: number,
    private readonly bytesPerAppend = 100,
  ) {}
  beginFlush(): FlushWork | null {
    if (this.appends === 0) return null;
    const appends = this.appends;
    this.appends = 0;
    return { fds: [this.fd], bytes: this.bytesPerAppend * appends, appends, finish: (error) => this.finished.push(error) };
  }
}

const flushers: Flusher[] = [];
afterEach(() => {
  for (const flusher of flushers.splice(0)) flusher.stop();
});

function controlledFlusher(faultSyncDelayMs = 0): { flusher: Flusher; syncs: PendingSync[] } {
  const syncs: PendingSync[] = [];
  const syncFd = (fd: number) =>
    new Promise<void>((resolve, reject) => {
      syncs.push({ fd, succeed: resolve, fail: reject });
    });
  const flusher = new Flusher("durable", 1000, () => 0, syncFd, faultSyncDelayMs);
  flushers.push(flusher);
  return { flusher, syncs };
}

function append(flusher: Flusher, participant: FakeParticipant): Promise<void> {
  participant.appends++;
  return flusher.appended(participant);
}

/** Lets every queued microtask and promise reaction run. */
const settle = () => Bun.sleep(0);

/** Records the order in which appends were acknowledged or failed. */
function track(promise: Promise<void>, name: string, events: string[]): void {
  promise.then(
    () => events.push(`${name} durable`),
    () => events.push(`${name} failed`),
  );
}

describe("flusher rounds in flight", () => {
  test("a round starts while another syncs, at most MAX_ROUNDS_IN_FLIGHT at once, and rounds complete in start order", async () => {
    const { flusher, syncs } = controlledFlusher();
    const participants = Array.from({ length: MAX_ROUNDS_IN_FLIGHT + 1 }, (_, i) => new FakeParticipant(10 + i));
    const events: string[] = [];
    for (const [i, participant] of participants.entries()) {
      track(append(flusher, participant), `append ${i}`, events);
      await settle();
    }
    // One round per append up to the bound; the last append waits for the next round.
    expect(syncs.map((s) => s.fd)).toEqual(participants.slice(0, MAX_ROUNDS_IN_FLIGHT).map((p) => p.fd));

    // The newest round's sync returns first: nothing is acknowledged until the oldest returns too.
    syncs[MAX_ROUNDS_IN_FLIGHT - 1]!.succeed();
    await settle();
    expect(events).toEqual([]);
    expect(participants[MAX_ROUNDS_IN_FLIGHT - 1]!.finished).toEqual([]);

    for (let i = 0; i < MAX_ROUNDS_IN_FLIGHT - 1; i++) syncs[i]!.succeed();
    await settle();
    expect(events).toEqual(participants.slice(0, MAX_ROUNDS_IN_FLIGHT).map((_, i) => `append ${i} durable`));
    // The waiting append's round started once a slot was free.
    expect(syncs.map((s) => s.fd)).toEqual(participants.map((p) => p.fd));
    syncs[MAX_ROUNDS_IN_FLIGHT]!.succeed();
    await settle();
    expect(events).toContain(`append ${MAX_ROUNDS_IN_FLIGHT} durable`);
    expect(flusher.stats.flushRounds).toBe(MAX_ROUNDS_IN_FLIGHT + 1);
    expect(flusher.stats.appendsFlushed).toBe(MAX_ROUNDS_IN_FLIGHT + 1);
  });

  test("appends made while every slot is busy share the next round", async () => {
    const { flusher, syncs } = controlledFlusher();
    const participant = new FakeParticipant(7);
    for (let i = 0; i < MAX_ROUNDS_IN_FLIGHT; i++) {
      void append(flusher, participant);
      await settle();
    }
    const waiting = Array.from({ length: 5 }, () => append(flusher, participant));
    await settle();
    expect(syncs.length).toBe(MAX_ROUNDS_IN_FLIGHT);
    for (const sync of syncs.slice()) sync.succeed();
    await settle();
    expect(syncs.length).toBe(MAX_ROUNDS_IN_FLIGHT + 1);
    syncs[MAX_ROUNDS_IN_FLIGHT]!.succeed();
    await Promise.all(waiting);
    expect(flusher.stats.maxAppendsPerRound).toBe(5);
  });

  test("no round starts beside one that writes OVERLAP_MAX_BYTES or more: appends wait and share the next round", async () => {
    const { flusher, syncs } = controlledFlusher();
    const large = new FakeParticipant(1, OVERLAP_MAX_BYTES);
    const small = new FakeParticipant(2);
    void append(flusher, large);
    await settle();
    const waiting = [append(flusher, small), append(flusher, small)];
    await settle();
    expect(syncs.map((s) => s.fd)).toEqual([1]);
    syncs[0]!.succeed();
    await settle();
    expect(syncs.map((s) => s.fd)).toEqual([1, 2]);
    syncs[1]!.succeed();
    await Promise.all(waiting);
    expect(flusher.stats.flushRounds).toBe(2);
  });

  test("after a failed sync, a later round's successful sync acknowledges nothing", async () => {
    const { flusher, syncs } = controlledFlusher();
    const first = new FakeParticipant(1);
    const second = new FakeParticipant(2);
    const events: string[] = [];
    track(append(flusher, first), "first", events);
    await settle();
    track(append(flusher, second), "second", events);
    await settle();
    expect(syncs.length).toBe(2);

    syncs[1]!.succeed();
    syncs[0]!.fail(new Error("EIO"));
    await settle();
    expect(events).toEqual(["first failed", "second failed"]);
    expect(first.finished.map((e) => e?.message)).toEqual(["EIO"]);
    expect(second.finished.map((e) => e?.message)).toEqual(["EIO"]);
    expect(flusher.failed?.message).toBe("EIO");
    const later = await append(flusher, first).then(
      () => "durable",
      (e: Error) => e.message,
    );
    expect(later).toBe("EIO");
  });

  test("flushAll waits for every round in flight", async () => {
    const { flusher, syncs } = controlledFlusher();
    const participant = new FakeParticipant(3);
    void append(flusher, participant);
    await settle();
    void append(flusher, participant);
    await settle();
    let flushed = false;
    void flusher.flushAll().then(() => (flushed = true));
    syncs[0]!.succeed();
    await settle();
    expect(flushed).toBe(false);
    syncs[1]!.succeed();
    await settle();
    expect(flushed).toBe(true);
  });
});

describe("flusher faults", () => {
  test("a partition whose finish throws does not keep the other appends of its round waiting", async () => {
    const { flusher, syncs } = controlledFlusher();
    const broken = new FakeParticipant(1);
    const healthy = new FakeParticipant(2);
    broken.beginFlush = () => {
      broken.appends = 0;
      const finish = () => {
        throw new Error("ENOSPC writing a checkpoint");
      };
      return { fds: [broken.fd], bytes: 100, appends: 1, finish };
    };
    const events: string[] = [];
    track(append(flusher, broken), "broken", events);
    track(append(flusher, healthy), "healthy", events);
    await settle();
    for (const sync of syncs) sync.succeed();
    await settle();
    expect(events.sort()).toEqual(["broken durable", "healthy durable"]);
    expect(healthy.finished).toEqual([null]);
    expect(flusher.failed).toBeNull();
  });

  test("an injected sync delay holds the sync, and so the acknowledgement, until it has passed", async () => {
    const { flusher, syncs } = controlledFlusher(1000);
    const participant = new FakeParticipant(4);
    const events: string[] = [];
    track(append(flusher, participant), "append", events);
    await settle();
    expect(syncs).toEqual([]);
    await waitFor(() => syncs.length === 1, "the delayed sync to be issued", 10_000);
    expect(events).toEqual([]);
    syncs[0]!.succeed();
    await settle();
    expect(events).toEqual(["append durable"]);
  });
});
