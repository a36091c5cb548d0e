"""Chaos workload consumer: reads every partition of TOPIC from offset 0 with manual assignment until SIGTERM,
printing "read P O V" for every record. auto.offset.reset=earliest makes a broker that wrongly answers
OFFSET_OUT_OF_RANGE visible: the reader jumps back, and the checker flags the non-monotonic read.

  consumer.py BOOTSTRAP TOPIC PARTITIONS
"""
import signal
import sys

from confluent_kafka import Consumer, TopicPartition

bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = sys.stdout
stopping = False


def stop(_signum, _frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "chaos-readers",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "topic.metadata.refresh.interval.ms": 1000,
})
consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
while not stopping:
    for msg in consumer.consume(500, 0.2):
        if msg.error():
            sys.stderr.write(f"{msg.error()}\n")
            continue
        out.write(f"read {msg.partition()} {msg.offset()} {msg.value().decode()}\n")
    out.flush()
consumer.close()
