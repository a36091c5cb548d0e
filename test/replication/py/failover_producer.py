"""Sends `count` numbered messages with an idempotent acks=all producer, paced at `rate` per second, printing
"partition offset value" for every acknowledged one and "failed partition value error" for every one that failed.
At the first failure it writes to stderr, as "stuck: ..." lines, where librdkafka's latest statistics say the
partitions with unsent messages were waiting (the broker it sends them to, its state, the leader it knows).
RDKAFKA_DEBUG in the environment (e.g. "eos,topic,broker,protocol") turns on librdkafka's debug log on stderr."""
import json
import os
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, count, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
out = sys.stdout
latest_stats = {"json": None}
stuck_described = {"done": False}


def describe_stuck():
    if latest_stats["json"] is None:
        sys.stderr.write("stuck: no statistics from librdkafka yet\n")
        return
    stats = json.loads(latest_stats["json"])
    brokers = {b["nodeid"]: b for b in stats.get("brokers", {}).values() if b.get("nodeid", -1) >= 0}
    for p in stats.get("topics", {}).get(topic, {}).get("partitions", {}).values():
        waiting = p["msgq_cnt"] + p["xmit_msgq_cnt"] + p["msgs_inflight"]
        if p["partition"] < 0 or waiting == 0:
            continue
        broker = brokers.get(p["broker"], {})
        sys.stderr.write(
            f"stuck: partition {p['partition']}: {p['msgq_cnt'] + p['xmit_msgq_cnt']} queued, {p['msgs_inflight']} in flight;"
            f" sent to broker {p['broker']} ({broker.get('state', 'unknown')}), leader known as {p['leader']}\n"
        )


def delivered(err, msg):
    if err is None:
        out.write(f"{msg.partition()} {msg.offset()} {msg.value().decode()}\n")
        return
    if not stuck_described["done"]:
        stuck_described["done"] = True
        describe_stuck()
    out.write(f"failed {msg.partition()} {msg.value().decode()} {err}\n")


def stats(json_text):
    latest_stats["json"] = json_text


producer = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "message.timeout.ms": 120000,
    "topic.metadata.refresh.interval.ms": 1000,
    "statistics.interval.ms": 1000,
    "stats_cb": stats,
    **({"debug": os.environ["RDKAFKA_DEBUG"]} if os.environ.get("RDKAFKA_DEBUG") else {}),
})
started = time.monotonic()
for i in range(count):
    while True:
        try:
            producer.produce(topic, key=str(i).encode(), value=f"m-{i}".encode(), on_delivery=delivered)
            break
        except BufferError:
            producer.poll(0.01)
    # Pacing keeps the stream going while the test kills a leader.
    ahead_s = (i + 1) / rate - (time.monotonic() - started)
    if ahead_s > 0:
        producer.poll(ahead_s)
    elif i % 100 == 0:
        producer.poll(0)
remaining = producer.flush(120)
if remaining > 0 and not stuck_described["done"]:
    describe_stuck()
sys.stderr.write(f"done, {remaining} undelivered\n")
