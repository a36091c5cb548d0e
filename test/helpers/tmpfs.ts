/** A small tmpfs as a data dir, for tests of a full disk. Mounting needs root. */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why a tmpfs cannot be mounted here, or null: mounting needs root and a kernel that lets this process mount. */
export function tmpfsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "needs root to mount a tmpfs";
  const probe = mkdtempSync(join(tmpdir(), "chronik-mount-probe-"));
  try {
    const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { stderr: "pipe" });
    if (mounted.exitCode !== 0) return `mount -t tmpfs failed: ${mounted.stderr.toString().trim()}`;
    Bun.spawnSync(["umount", probe]);
    return null;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

export interface Tmpfs {
  readonly dir: string;
  /** Unmounts (lazily, so a file still open cannot keep it mounted) and removes the mount point. */
  remove(): void;
}

export function mountTmpfs(bytes: number, prefix = "chronik-tmpfs-"): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir], { stderr: "pipe" });
  if (mount.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mount -t tmpfs on ${dir} failed: ${mount.stderr.toString()}`);
  }
  return {
    dir,
    remove() {
      const umount = Bun.spawnSync(["umount", "-l", dir], { stderr: "pipe" });
      if (umount.exitCode !== 0) console.error(`umount ${dir} failed: ${umount.stderr.toString()}`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a file until the disk refuses more: afterwards not one block is free. Returns the bytes written. */
export function fillDisk(path: string): number {
  const fd = openSync(path, "w");
  let written = 0;
  try {
    for (const chunkBytes of [1024 * 1024, 4096, 1]) {
      const chunk = new Uint8Array(chunkBytes).fill(0x5a);
      try {
        for (;;) written += writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}
