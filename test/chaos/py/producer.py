"""Chaos workload producer: an idempotent acks=all confluent-kafka producer that sends NAME-i values at RATE per
second until SIGTERM, then flushes for at most FLUSH_S seconds. It prints one line per event:
"send V" before handing V to librdkafka, "ack P O V" when acknowledged, "fail V ERROR" when not.

  producer.py BOOTSTRAP TOPIC NAME RATE FLUSH_S
"""
import signal
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, name, rate, flush_s = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
out = sys.stdout
stopping = False


def stop(_signum, _frame):
    global stopping
    stopping = True


def delivered(err, msg):
    if err is None:
        out.write(f"ack {msg.partition()} {msg.offset()} {msg.value().decode()}\n")
    else:
        out.write(f"fail {msg.value().decode()} {err.name()}\n")


def on_error(err):
    # A fatal error (e.g. the idempotent sequence broke) ends this producer; the harness starts a fresh one.
    sys.stderr.write(f"error {err}\n")
    if err.fatal():
        out.write(f"fatal {err.name()}\n")
        out.flush()
        raise SystemExit(3)


signal.signal(signal.SIGTERM, stop)
producer = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "message.timeout.ms": 60000,
    "topic.metadata.refresh.interval.ms": 1000,
    "error_cb": on_error,
})
started = time.monotonic()
i = 0
while not stopping:
    value = f"{name}-{i}"
    out.write(f"send {value}\n")
    while True:
        try:
            producer.produce(topic, value=value.encode(), on_delivery=delivered)
            break
        except BufferError:
            producer.poll(0.05)
    i += 1
    ahead_s = i / rate - (time.monotonic() - started)
    producer.poll(max(0.0, ahead_s))
    out.flush()
remaining = producer.flush(flush_s)
out.flush()
sys.stderr.write(f"done, {remaining} undelivered\n")
