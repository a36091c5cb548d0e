// A live line chart on a canvas: two series (records/s and bytes/s), each scaled to its own axis.
const HISTORY_POINTS = 60;
const COLORS = { messages: "#2f6fde", bytes: "#1f8a4c" };

export class ThroughputChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.points = [];
    this.previous = null;
  }

  /** Adds a /api/stats sample; rates come from the difference to the previous one. */
  push(stats) {
    if (this.previous) {
      const seconds = (stats.timeMs - this.previous.timeMs) / 1000;
      if (seconds > 0) {
        this.points.push({
          messages: Math.max(0, stats.messagesInTotal - this.previous.messagesInTotal) / seconds,
          bytes: Math.max(0, stats.bytesInTotal - this.previous.bytesInTotal) / seconds,
        });
        if (this.points.length > HISTORY_POINTS) this.points.shift();
      }
    }
    this.previous = stats;
    this.draw();
  }

  latest() {
    return this.points[this.points.length - 1] ?? { messages: 0, bytes: 0 };
  }

  draw() {
    const ratio = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    if (width === 0 || height === 0) return;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    const g = this.canvas.getContext("2d");
    g.scale(ratio, ratio);
    g.clearRect(0, 0, width, height);
    const pad = { left: 64, right: 72, top: 10, bottom: 22 };
    const plotWidth = width - pad.left - pad.right;
    const plotHeight = height - pad.top - pad.bottom;
    const maxMessages = niceMax(Math.max(10, ...this.points.map((p) => p.messages)));
    const maxBytes = niceMax(Math.max(1000, ...this.points.map((p) => p.bytes)));

    g.font = "11px system-ui, sans-serif";
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = pad.top + plotHeight - (plotHeight * i) / 4;
      g.strokeStyle = "#eceef2";
      g.beginPath();
      g.moveTo(pad.left, y + 0.5);
      g.lineTo(pad.left + plotWidth, y + 0.5);
      g.stroke();
      g.fillStyle = COLORS.messages;
      g.textAlign = "right";
      g.fillText(shortNumber((maxMessages * i) / 4), pad.left - 8, y + 4);
      g.fillStyle = COLORS.bytes;
      g.textAlign = "left";
      g.fillText(shortBytes((maxBytes * i) / 4), pad.left + plotWidth + 8, y + 4);
    }
    g.fillStyle = "#8a92a3";
    g.textAlign = "left";
    g.fillText(`${HISTORY_POINTS}s ago`, pad.left, height - 6);
    g.textAlign = "right";
    g.fillText("now", pad.left + plotWidth, height - 6);

    const x = (i) => pad.left + plotWidth - ((this.points.length - 1 - i) * plotWidth) / (HISTORY_POINTS - 1);
    const line = (key, max) => {
      if (this.points.length < 2) return;
      g.strokeStyle = COLORS[key];
      g.lineWidth = 2;
      g.beginPath();
      this.points.forEach((p, i) => {
        const y = pad.top + plotHeight - (p[key] / max) * plotHeight;
        if (i === 0) g.moveTo(x(i), y);
        else g.lineTo(x(i), y);
      });
      g.stroke();
    };
    line("bytes", maxBytes);
    line("messages", maxMessages);
  }
}

function niceMax(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

export function shortNumber(value) {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(1);
}

export function shortBytes(value) {
  if (value >= 1 << 30) return `${(value / (1 << 30)).toFixed(1)} GiB`;
  if (value >= 1 << 20) return `${(value / (1 << 20)).toFixed(1)} MiB`;
  if (value >= 1 << 10) return `${(value / (1 << 10)).toFixed(1)} KiB`;
  return `${value.toFixed(0)} B`;
}
