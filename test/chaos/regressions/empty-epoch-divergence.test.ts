/**
 * Found by the chaos run (seed 20261124): a leader that loses its epoch before appending anything (paused past
 * its session, or cut off) keeps that epoch's entry at its log end. Following the next leader, it offered that
 * epoch on every subscribe; the new leader, which never saw the epoch, answered "diverged at your log end" each
 * time, and the follower, with nothing to truncate, subscribed again: a busy loop that never rejoined the ISR.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Producer } from "../../../src/client/producer.ts";
import { startCluster, type ClusterProcess } from "../../helpers/broker-process.ts";
import { waitFor } from "../../helpers/wait.ts";
import { CLUSTER_ARGS, agreedLeaders, createTopic, kcatPartitions, runningNodes } from "../../replication/cluster-helpers.ts";

const TOPIC = "empty-epoch";
let cluster: ClusterProcess;

beforeAll(async () => {
  cluster = await startCluster(3, CLUSTER_ARGS);
}, 90_000);

afterAll(async () => {
  await cluster?.cleanup();
});

const leaderSeenBy = async (observer: number) => (await kcatPartitions(cluster.node(observer), TOPIC))[0]?.leader ?? -1;

test("a leader that lost an epoch in which it appended nothing rejoins the ISR as a follower", async () => {
  await createTopic(cluster.node(1), TOPIC, 1, 3);
  const [first] = await agreedLeaders(cluster, TOPIC, 1);
  await waitFor(async () => (await kcatPartitions(cluster.node(first!), TOPIC))[0]?.isrs.length === 3, "a full ISR");
  const producer = await Producer.connect(cluster.node(first!).bootstrap, { acks: -1 });
  await Promise.all(Array.from({ length: 10 }, (_, i) => producer.send({ topic: TOPIC, partition: 0, value: new TextEncoder().encode(`m-${i}`) })));
  await producer.close();

  // The first leader dies; the next one takes a new epoch and appends nothing in it.
  const firstPort = cluster.node(first!).kafkaPort;
  cluster.node(first!).process.kill("SIGKILL");
  await cluster.node(first!).process.exited;
  const observer = runningNodes(cluster)[0]!;
  const observerId = cluster.nodes.indexOf(observer) + 1;
  const second = await waitFor(async () => {
    const leader = await leaderSeenBy(observerId);
    return leader > 0 && leader !== first ? leader : null;
  }, "a second leader", 30_000, 100);
  // The first comes back so a quorum survives the pause below.
  await cluster.restart(first!, ["--kafka-port", String(firstPort)]);

  // The second leader is paused past its session: a third leader takes over without ever seeing the second's epoch.
  cluster.node(second).process.kill("SIGSTOP");
  const third = [1, 2, 3].find((id) => id !== second)!;
  await waitFor(async () => {
    const leader = await leaderSeenBy(third);
    return leader > 0 && leader !== second;
  }, "a third leader while the second is paused", 30_000, 200);
  cluster.node(second).process.kill("SIGCONT");

  await waitFor(async () => (await kcatPartitions(cluster.node(third), TOPIC))[0]?.isrs.some((r) => r.id === second), "the resumed leader to rejoin the ISR as a follower", 30_000, 200);
  expect(cluster.node(second).output()).not.toContain("truncating a follower's diverged tail");
}, 180_000);
