/** Names of the files in a partition directory; Kafka's layout so tools that read Kafka's dirs can follow. */
import * as path from "node:path";

const OFFSET_DIGITS = 20;

export function segmentBaseName(baseOffset: number): string {
  if (!(Number.isSafeInteger(baseOffset) && baseOffset >= 0)) throw new RangeError(`bad base offset ${baseOffset}`);
  return String(baseOffset).padStart(OFFSET_DIGITS, "0");
}

export function logPath(dir: string, baseOffset: number): string {
  return path.join(dir, `${segmentBaseName(baseOffset)}.log`);
}

export function offsetIndexPath(dir: string, baseOffset: number): string {
  return path.join(dir, `${segmentBaseName(baseOffset)}.index`);
}

export function timeIndexPath(dir: string, baseOffset: number): string {
  return path.join(dir, `${segmentBaseName(baseOffset)}.timeindex`);
}

/** Base offset of a `<20 digits>.log` file name, or null for any other name. */
export function parseLogFileName(name: string): number | null {
  const match = /^(\d{20})\.log$/.exec(name);
  if (match === null) return null;
  const value = Number(match[1]);
  return Number.isSafeInteger(value) ? value : null;
}

export const CLEAN_SHUTDOWN_FILE = "clean-shutdown";
export const RECOVERY_POINT_FILE = "recovery-point-offset";
export const LOG_START_OFFSET_FILE = "log-start-offset";
export const DELETED_SUFFIX = ".deleted";

/**
 * `<topic>-<partition>`: the partition is the digits after the last '-', so topics containing '-' stay
 * unambiguous (Kafka does the same). Anything else, such as a directory being deleted, is not a partition.
 */
export function partitionDirName(topic: string, partition: number): string {
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic) || topic === "." || topic === "..") throw new RangeError(`illegal topic name ${JSON.stringify(topic)}`);
  if (!(Number.isInteger(partition) && partition >= 0)) throw new RangeError(`bad partition ${partition}`);
  return `${topic}-${partition}`;
}

export function parsePartitionDirName(name: string): { topic: string; partition: number } | null {
  const match = /^([A-Za-z0-9._-]{1,249})-(\d{1,10})$/.exec(name);
  if (match === null) return null;
  const partition = Number(match[2]);
  if (!(partition <= 0x7fffffff)) return null;
  return { topic: match[1]!, partition };
}
