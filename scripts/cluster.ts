/**
 * `bun run cluster`: a 3-node Chronik cluster on this machine. Node N serves Kafka on 909(1+N), HTTP on 809(1+N),
 * Raft on 500N, partition replication on 929N and keeps its data in ./data/node-N; every node is a metadata voter. Output is prefixed with the
 * node; SIGINT and SIGTERM are passed on to the nodes, and the script exits once they have.
 * Extra arguments go to every node (e.g. `bun run cluster --log-level debug`).
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const NODE_COUNT = 3;
const extraArgs = process.argv.slice(2);
const nodes = Array.from({ length: NODE_COUNT }, (_, i) => ({ id: i + 1, kafkaPort: 9092 + i, httpPort: 8092 + i, raftPort: 5001 + i, replicationPort: 9291 + i }));
const voters = nodes.map((n) => `${n.id}@127.0.0.1:${n.raftPort}`).join(",");

async function prefixLines(stream: ReadableStream<Uint8Array>, prefix: string, out: NodeJS.WriteStream): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) out.write(`${prefix} ${line}\n`);
  }
  if (pending !== "") out.write(`${prefix} ${pending}\n`);
}

const children = nodes.map((node) => {
  const dataDir = join(ROOT, "data", `node-${node.id}`);
  mkdirSync(dataDir, { recursive: true });
  const child = Bun.spawn(
    [
      process.execPath,
      join(ROOT, "src/main.ts"),
      "start",
      "--node-id", String(node.id),
      "--kafka-port", String(node.kafkaPort),
      "--http-port", String(node.httpPort),
      "--replication-port", String(node.replicationPort),
      "--controller-quorum-voters", voters,
      "--data-dir", dataDir,
      ...extraArgs,
    ],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore" },
  );
  void prefixLines(child.stdout as ReadableStream<Uint8Array>, `[node-${node.id}]`, process.stdout);
  void prefixLines(child.stderr as ReadableStream<Uint8Array>, `[node-${node.id}]`, process.stderr);
  return child;
});

process.stdout.write(
  [
    `Chronik cluster: ${NODE_COUNT} nodes, metadata quorum ${voters}`,
    ...nodes.map((n) => `  node ${n.id}: Kafka 127.0.0.1:${n.kafkaPort}  HTTP http://127.0.0.1:${n.httpPort}  Raft ${n.raftPort}  replication ${n.replicationPort}  data ./data/node-${n.id}`),
    `Bootstrap servers: ${nodes.map((n) => `127.0.0.1:${n.kafkaPort}`).join(",")}`,
    `Try: kcat -L -b 127.0.0.1:${nodes[0]!.kafkaPort}`,
    "Ctrl-C stops every node.",
    "",
  ].join("\n"),
);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    for (const child of children) if (child.exitCode === null) child.kill(signal);
  });
}

const codes = await Promise.all(children.map((c) => c.exited));
codes.forEach((code, i) => process.stderr.write(`[node-${i + 1}] exited with ${code}\n`));
process.exit(codes.some((c) => c !== 0) ? 1 : 0);
