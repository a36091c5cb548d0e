/** A one-line progress bar on stderr, drawn only when stderr is a terminal (never into logs or pipes). */
const BAR_WIDTH = 30;

export class Progress {
  private readonly enabled = process.stderr.isTTY === true;
  private lastDrawMs = 0;

  constructor(private readonly label: string) {}

  update(fraction: number, detail: string): void {
    if (!this.enabled) return;
    const nowMs = performance.now();
    if (nowMs - this.lastDrawMs < 100) return;
    this.lastDrawMs = nowMs;
    const filled = Math.max(0, Math.min(BAR_WIDTH, Math.round(fraction * BAR_WIDTH)));
    process.stderr.write(`\r\x1b[2K${this.label} [${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${detail}`);
  }

  done(): void {
    if (this.enabled) process.stderr.write("\r\x1b[2K");
  }
}
