/** A small Prometheus registry: counters, gauges and histograms with labels, rendered as text exposition format. */
type Labels = Readonly<Record<string, string | number>>;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function withLabel(key: string, extra: string): string {
  return key === "" ? `{${extra}}` : `${key.slice(0, -1)},${extra}}`;
}

interface Metric {
  readonly name: string;
  render(lines: string[]): void;
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    private readonly help: string,
  ) {}
  inc(labels?: Labels, by = 1): void {
    this.add(labelKey(labels), by);
  }
  /** One labelled series with its label text built once, for a counter bumped on every request. */
  labelled(labels?: Labels): (by?: number) => void {
    const key = labelKey(labels);
    return (by = 1) => this.add(key, by);
  }
  private add(key: string, by: number): void {
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`);
  }
}

/** A gauge whose values are read when scraped, so nothing has to keep it up to date. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly collect: () => Iterable<[Labels | undefined, number]>,
  ) {}
  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`);
    for (const [labels, value] of this.collect()) lines.push(`${this.name}${labelKey(labels)} ${value}`);
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly buckets: readonly number[],
  ) {}
  observe(value: number, labels?: Labels): void {
    this.observeSeries(labelKey(labels), value);
  }
  /** One labelled series with its label text built once, for a histogram fed on every request. */
  labelled(labels?: Labels): (value: number) => void {
    const key = labelKey(labels);
    return (value) => this.observeSeries(key, value);
  }
  private observeSeries(key: string, value: number): void {
    let s = this.series.get(key);
    if (!s) {
      s = { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const [key, s] of this.series) {
      for (let i = 0; i < this.buckets.length; i++) lines.push(`${this.name}_bucket${withLabel(key, `le="${this.buckets[i]}"`)} ${s.counts[i]}`);
      lines.push(`${this.name}_bucket${withLabel(key, `le="+Inf"`)} ${s.count}`);
      lines.push(`${this.name}_sum${key} ${s.sum}`, `${this.name}_count${key} ${s.count}`);
    }
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  register<M extends Metric>(metric: M): M {
    if (this.metrics.some((m) => m.name === metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.metrics.push(metric);
    return metric;
  }
  render(): string {
    const lines: string[] = [];
    for (const metric of this.metrics) metric.render(lines);
    return lines.join("\n") + "\n";
  }
}
