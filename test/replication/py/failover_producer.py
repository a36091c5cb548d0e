"""Sends `count` numbered messages with an idempotent acks=all producer, paced at `rate` per second, printing
"partition offset value" for every acknowledged one and "failed value error" for every one that failed."""
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, count, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
out = sys.stdout


def delivered(err, msg):
    if err is None:
        out.write(f"{msg.partition()} {msg.offset()} {msg.value().decode()}\n")
    else:
        out.write(f"failed {msg.value().decode()} {err}\n")


producer = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "message.timeout.ms": 120000,
    "topic.metadata.refresh.interval.ms": 1000,
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
sys.stderr.write(f"done, {remaining} undelivered\n")
