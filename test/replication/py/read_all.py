"""Reads every partition of a topic from the start up to its high watermark; prints "partition offset value"."""
import sys

from confluent_kafka import Consumer, TopicPartition

bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "failover-check", "enable.auto.commit": False, "auto.offset.reset": "earliest"})
ends = {}
for p in range(partitions):
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
    ends[p] = high
consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
positions = {p: 0 for p in range(partitions)}
while any(positions[p] < ends[p] for p in range(partitions)):
    msg = consumer.poll(5)
    if msg is None:
        continue
    if msg.error():
        sys.stderr.write(f"{msg.error()}\n")
        continue
    sys.stdout.write(f"{msg.partition()} {msg.offset()} {msg.value().decode()}\n")
    positions[msg.partition()] = msg.offset() + 1
consumer.close()
