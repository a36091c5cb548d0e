/**
 * Found by the chaos run: a follower paused past its session is fenced and leaves the ISR. On a partition nobody
 * writes to, the leader pushes nothing, so a follower that only acknowledged pushed batches never told the leader
 * it was caught up and stayed out of the ISR for good. Followers now report their position on a timer.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Producer } from "../../../src/client/producer.ts";
import { startCluster, type ClusterProcess } from "../../helpers/broker-process.ts";
import { waitFor } from "../../helpers/wait.ts";
import { CLUSTER_ARGS, agreedLeaders, createTopic, kcatPartitions } from "../../replication/cluster-helpers.ts";

const TOPIC = "idle-follower";
let cluster: ClusterProcess;

beforeAll(async () => {
  cluster = await startCluster(3, CLUSTER_ARGS);
}, 90_000);

afterAll(async () => {
  await cluster?.cleanup();
});

const isrSeenBy = async (observer: number) => ((await kcatPartitions(cluster.node(observer), TOPIC))[0]?.isrs ?? []).map((r) => r.id);

test("a follower that left the ISR while its partition was idle rejoins it without new writes", async () => {
  await createTopic(cluster.node(1), TOPIC, 1, 3);
  const [leader] = await agreedLeaders(cluster, TOPIC, 1);
  await waitFor(async () => (await isrSeenBy(leader!)).length === 3, "a full ISR");
  const producer = await Producer.connect(cluster.node(leader!).bootstrap, { acks: -1 });
  await Promise.all(Array.from({ length: 10 }, (_, i) => producer.send({ topic: TOPIC, partition: 0, value: new TextEncoder().encode(`m-${i}`) })));
  await producer.close();

  // Nothing is written from here on. A follower is paused until it has been dropped from the ISR.
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  const observer = [1, 2, 3].find((id) => id !== follower)!;
  cluster.node(follower).process.kill("SIGSTOP");
  await waitFor(async () => !(await isrSeenBy(observer)).includes(follower), "the paused follower to leave the ISR", 30_000, 200);
  cluster.node(follower).process.kill("SIGCONT");

  const isr = await waitFor(async () => {
    const members = await isrSeenBy(observer);
    return members.includes(follower) ? members : null;
  }, "the resumed follower to rejoin the ISR of its idle partition", 30_000, 200);
  expect(isr.sort()).toEqual([1, 2, 3]);
}, 180_000);
