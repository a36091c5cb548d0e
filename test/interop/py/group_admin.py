"""Group administration with confluent-kafka's AdminClient and Consumer; prints one JSON answer.

  list                                  every group (ListGroups + DescribeGroups)
  committed <group> <topic> <n>         committed offsets of partitions 0..n-1 (OffsetFetch)
  commit <group> <topic> <p>=<offset>...  sets offsets outside group management (OffsetCommit)
"""
import json
import sys

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

bootstrap, action, *args = sys.argv[1:]

if action == "list":
    admin = AdminClient({"bootstrap.servers": bootstrap})
    groups = admin.list_groups(timeout=10)
    print(json.dumps([{
        "id": g.id,
        "state": g.state,
        "protocol_type": g.protocol_type,
        "protocol": g.protocol,
        "members": sorted(m.client_id for m in g.members),
        "error": None if g.error is None else str(g.error),
    } for g in groups]))
elif action in ("committed", "commit"):
    group, topic = args[0], args[1]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    if action == "committed":
        partitions = [TopicPartition(topic, p) for p in range(int(args[2]))]
        answer = consumer.committed(partitions, timeout=10)
    else:
        wanted = [TopicPartition(topic, int(p), int(o)) for p, o in (a.split("=") for a in args[2:])]
        answer = consumer.commit(offsets=wanted, asynchronous=False)
    print(json.dumps({str(tp.partition): tp.offset for tp in answer if tp.error is None}))
    consumer.close()
else:
    raise SystemExit(f"unknown action {action}")
