import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { OPTIONS, flagName } from "../src/config/options.ts";

const ROOT = resolve(import.meta.dir, "..");
const HAND_WRITTEN_MAX_LINES = 800;

function files(dir: string, extensions: string[]): string[] {
  const out: string[] = [];
  if (!existsSync(join(ROOT, dir))) return out;
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    const full = join(ROOT, path);
    if (statSync(full).isDirectory()) out.push(...files(path, extensions));
    else if (extensions.some((e) => name.endsWith(e))) out.push(path);
  }
  return out;
}

const source = files("src", [".ts"]).filter((f) => !f.startsWith("src/protocol/generated/"));
const everything = [...source, ...files("test", [".ts", ".py"]), ...files("bench", [".ts"]), ...files("scripts", [".ts"]), ...files("native", [".c", ".h"])];

function offenders(paths: string[], pattern: RegExp): string[] {
  const found: string[] = [];
  for (const path of paths) {
    const lines = readFileSync(join(ROOT, path), "utf8").split("\n");
    lines.forEach((line, i) => {
      if (pattern.test(line)) found.push(`${path}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

test("no TODO/FIXME or history comments", () => {
  const marker = ["TO", "DO"].join("");
  const pattern = new RegExp(`\\b(${marker}|FIXME|XXX)\\b|//.*\\b(Phase \\d|NEW:|FIX:|v\\d+\\.\\d+\\.\\d+ FIX)`);
  expect(offenders(everything.filter((f) => f !== "test/tidy.test.ts"), pattern)).toEqual([]);
});

test("no console.log in src/: the logger is the only writer", () => {
  expect(offenders(source, /console\.(log|error|warn|info|debug)\(/)).toEqual([]);
});

test("pure cores take time and randomness as arguments", () => {
  // The group service is the coordinator's I/O edge; everything else listed here is pure.
  const pure = source.filter((f) => f !== "src/group/group-service.ts").filter((f) =>
    ["src/group/", "src/raft/core", "src/raft/progress", "src/raft/raft-log", "src/idempotence/producer-state", "src/wal/retention", "src/wal/index-search", "src/metadata/state"].some((p) => f.startsWith(p)),
  );
  expect(pure.length).toBeGreaterThan(0);
  expect(offenders(pure, /Math\.random\(|Date\.now\(|performance\.now\(|setTimeout\(|setInterval\(/)).toEqual([]);
});

test("no hand-written file over ~800 lines", () => {
  const long = everything
    .map((path) => ({ path, lines: readFileSync(join(ROOT, path), "utf8").split("\n").length }))
    .filter((f) => f.lines > HAND_WRITTEN_MAX_LINES)
    .map((f) => `${f.path}: ${f.lines} lines`);
  expect(long).toEqual([]);
});

test("every broker flag is documented in the README", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const missing = OPTIONS.map((o) => `--${flagName(o.key)}`).filter((flag) => !readme.includes(`\`${flag}\``));
  expect(missing).toEqual([]);
});

test("protocol and lib import nothing above them", () => {
  const low = source.filter((f) => f.startsWith("src/protocol/") || f.startsWith("src/lib/"));
  const upward = offenders(low, /from "\.\.\/(api|net|wal|metadata|group|raft|replication|http|config|broker|idempotence|client|metrics)\b/);
  expect(upward.map((line) => relative(ROOT, line))).toEqual([]);
});

test("the README's API table lists exactly the APIs and versions the broker advertises", async () => {
  const { HANDLERS } = await import("../src/api/index.ts");
  const { API_SCHEMAS } = await import("../src/protocol/generated/index.ts");
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const rows = [...readme.matchAll(/^\| (\w+) \((\d+)\) \| (\d+)(?:-(\d+))?\b/gm)].map((m) => `${m[1]} (${m[2]}) ${m[3]}-${m[4] ?? m[3]}`);
  const advertised = HANDLERS.map((h) => `${API_SCHEMAS.get(h.apiKey)!.name} (${h.apiKey}) ${h.minVersion}-${h.maxVersion}`);
  expect(rows.sort()).toEqual(advertised.sort());
});
