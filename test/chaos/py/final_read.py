"""Reads every partition of TOPIC from offset 0 up to its high watermark, printing "hw P N" first and then
"read P O V" per record; exits 2 if it cannot finish within DEADLINE_S seconds.

  final_read.py BOOTSTRAP TOPIC PARTITIONS DEADLINE_S
"""
import sys
import time

from confluent_kafka import Consumer, TopicPartition

bootstrap, topic, partitions, deadline_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + deadline_s
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "chaos-final", "enable.auto.commit": False, "auto.offset.reset": "earliest"})
ends = {}
for p in range(partitions):
    ends[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=max(1.0, deadline - time.monotonic()))[1]
    print(f"hw {p} {ends[p]}")
consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
positions = {p: 0 for p in range(partitions)}
while any(positions[p] < ends[p] for p in range(partitions)):
    if time.monotonic() > deadline:
        sys.stderr.write(f"deadline passed at positions {positions}, high watermarks {ends}\n")
        sys.exit(2)
    for msg in consumer.consume(500, 1.0):
        if msg.error():
            sys.stderr.write(f"{msg.error()}\n")
            continue
        if msg.offset() < ends[msg.partition()]:
            print(f"read {msg.partition()} {msg.offset()} {msg.value().decode()}")
        positions[msg.partition()] = max(positions[msg.partition()], msg.offset() + 1)
consumer.close()
