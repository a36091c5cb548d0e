"""A small client for tests that run inside a network namespace (no in-process client can reach it).

  np_client.py BOOTSTRAP create TOPIC PARTITIONS RF
  np_client.py BOOTSTRAP metadata TOPIC                  -> JSON [{"partition", "leader", "isr"}]
  np_client.py BOOTSTRAP produce TOPIC PREFIX COUNT ACKS TIMEOUT_MS
                                                          -> "acked VALUE OFFSET" / "failed VALUE ERROR" per message
  np_client.py BOOTSTRAP read TOPIC PARTITIONS            -> "partition offset value" per message up to the high watermark
"""
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, command = sys.argv[1], sys.argv[2]
args = sys.argv[3:]

if command == "create":
    topic, partitions, rf = args[0], int(args[1]), int(args[2])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, partitions, rf)], operation_timeout=15)
    futures[topic].result(30)
elif command == "metadata":
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(args[0], timeout=10)
    topic = metadata.topics[args[0]]
    print(json.dumps([{"partition": p.id, "leader": p.leader, "isr": sorted(p.isrs)} for p in sorted(topic.partitions.values(), key=lambda p: p.id)]))
elif command == "produce":
    topic, prefix, count, acks, timeout_ms = args[0], args[1], int(args[2]), args[3], int(args[4])

    def delivered(err, msg):
        if err is None:
            print(f"acked {msg.value().decode()} {msg.offset()}")
        else:
            print(f"failed {msg.value().decode()} {err.name()}")

    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 1, "message.timeout.ms": timeout_ms, "retries": 1000000, "enable.idempotence": acks == "all"})
    for i in range(count):
        producer.produce(topic, partition=0, value=f"{prefix}-{i}".encode(), on_delivery=delivered)
    producer.flush(timeout_ms / 1000 + 10)
elif command == "read":
    topic, partitions = args[0], int(args[1])
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "np-check", "enable.auto.commit": False})
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(partitions)}
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    positions = {p: 0 for p in range(partitions)}
    while any(positions[p] < ends[p] for p in range(partitions)):
        msg = consumer.poll(5)
        if msg is None or msg.error():
            continue
        print(f"{msg.partition()} {msg.offset()} {msg.value().decode()}")
        positions[msg.partition()] = msg.offset() + 1
    consumer.close()
else:
    sys.exit(f"unknown command {command}")
