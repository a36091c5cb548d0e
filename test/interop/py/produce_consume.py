"""Idempotent acks=all producer, then a manually assigned consumer that checks every record.

Prints one JSON report: acknowledged count, delivery errors, and what the consumer found.
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

bootstrap, topic, count, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
base_ts = 1_700_000_000_000
report = {"acked": 0, "errors": [], "consumed": 0, "out_of_order": 0, "mismatched": 0, "duplicates": 0}

producer = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "batch.num.messages": 10000,
    "queue.buffering.max.messages": 1000000,
})

def delivered(err, msg):
    if err is not None:
        if len(report["errors"]) < 10:
            report["errors"].append(str(err))
    else:
        report["acked"] += 1

for i in range(count):
    while True:
        try:
            producer.produce(topic, key=f"k{i}", value=f"v{i}", partition=i % partitions,
                             headers=[("seq", str(i).encode())], timestamp=base_ts + i, on_delivery=delivered)
            break
        except BufferError:
            producer.poll(0.05)
    if i % 10000 == 0:
        producer.poll(0)
producer.flush(120)

consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "unused-manual-assignment",
    "enable.auto.commit": False,
    "fetch.wait.max.ms": 100,
})
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
last_seen = {p: -1 for p in range(partitions)}
seen = set()
deadline = time.time() + 120
while report["consumed"] < report["acked"] and time.time() < deadline:
    for msg in consumer.consume(10000, 1.0):
        if msg.error():
            report["errors"].append(str(msg.error()))
            continue
        i = int(msg.value()[1:])
        report["consumed"] += 1
        if i in seen:
            report["duplicates"] += 1
        seen.add(i)
        if i <= last_seen[msg.partition()]:
            report["out_of_order"] += 1
        last_seen[msg.partition()] = i
        if (msg.key() != f"k{i}".encode() or msg.partition() != i % partitions
                or msg.timestamp()[1] != base_ts + i or msg.headers() != [("seq", str(i).encode())]):
            report["mismatched"] += 1
consumer.close()
print(json.dumps(report))
