/**
 * lmdb-js rejects the writes of a failed commit with a generic "Commit failed" error whose `commitError` is a second
 * promise holding the cause (ENOSPC, EIO). Nothing else awaits that promise, and an unhandled rejection ends the
 * process, so every caller that catches a failed LMDB write claims it here.
 */
export async function commitFailureCause(error: unknown): Promise<unknown> {
  const pending = pendingCause(error);
  if (pending === undefined) return error;
  return await pending.then(
    () => error,
    (cause: unknown) => cause,
  );
}

function pendingCause(error: unknown): Promise<unknown> | undefined {
  const pending = (error as { commitError?: unknown } | null)?.commitError;
  return pending instanceof Promise ? pending : undefined;
}

/**
 * lmdb-js also rejects promises of a failed commit that no caller holds (shared commit promises, writes queued inside
 * a transaction); the failure itself reaches the writer through the promise it awaits. Those rejections are dropped
 * here. Any other unhandled rejection is passed to `onOther`, which should end the process as Bun would have.
 */
export function dropOrphanedCommitFailures(onOther: (reason: unknown) => void): void {
  process.on("unhandledRejection", (reason) => {
    if (reason instanceof Error && pendingCause(reason) !== undefined) void commitFailureCause(reason);
    else onOther(reason);
  });
}
