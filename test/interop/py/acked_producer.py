"""Produces numbered messages until killed, printing "partition offset value" for every acknowledged one."""
import sys

from confluent_kafka import Producer

bootstrap, topic, name = sys.argv[1], sys.argv[2], sys.argv[3]
out = sys.stdout

def delivered(err, msg):
    if err is None:
        out.write(f"{msg.partition()} {msg.offset()} {msg.value().decode()}\n")
        out.flush()

producer = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 2,
    "message.timeout.ms": 600000,
})
i = 0
while True:
    try:
        producer.produce(topic, value=f"{name}-{i}", on_delivery=delivered)
        i += 1
    except BufferError:
        producer.poll(0.01)
    if i % 100 == 0:
        producer.poll(0)
