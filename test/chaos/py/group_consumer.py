"""Chaos workload group consumer: subscribes to TOPIC in GROUP (classic protocol, auto-commit) until SIGTERM,
printing "assign P" for every partition it is given (it may resume there from an earlier commit) and
"read P O V" for every record.

  group_consumer.py BOOTSTRAP TOPIC GROUP
"""
import signal
import sys

from confluent_kafka import Consumer

bootstrap, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
out = sys.stdout
stopping = False


def stop(_signum, _frame):
    global stopping
    stopping = True


def assigned(_consumer, partitions):
    for p in partitions:
        out.write(f"assign {p.partition}\n")


signal.signal(signal.SIGTERM, stop)
consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": True,
    "auto.commit.interval.ms": 1000,
    "session.timeout.ms": 10000,
    "topic.metadata.refresh.interval.ms": 1000,
})
consumer.subscribe([topic], on_assign=assigned)
while not stopping:
    for msg in consumer.consume(500, 0.2):
        if msg.error():
            sys.stderr.write(f"{msg.error()}\n")
            continue
        out.write(f"read {msg.partition()} {msg.offset()} {msg.value().decode()}\n")
    out.flush()
consumer.close()
