"""One member of a consumer group that reports everything it does, a line at a time, on stdout.

  m <partition> <offset> <value>   a consumed message
  c <partition> <offset>           an offset the broker acknowledged as committed
  a <p,p,...>                      partitions assigned (incrementally with cooperative-sticky)
  r <p,p,...>                      partitions revoked
  e <error>                        a client error

SIGTERM closes the consumer cleanly (final commit, LeaveGroup) and exits 0.

Offsets are stored for commit only after a message's line is flushed, so a member killed with SIGKILL
never has committed a message the test did not see it consume (at-least-once, as applications do it).
"""
import signal
import sys

from confluent_kafka import Consumer, KafkaError, KafkaException

bootstrap, group, topic, strategy, session_timeout_ms = sys.argv[1:6]
running = True


def stop(_signum, _frame):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
out = sys.stdout


def committed(err, partitions):
    if err is not None:
        out.write(f"e commit {err}\n")
        return
    for tp in partitions:
        if tp.error is None and tp.offset >= 0:
            out.write(f"c {tp.partition} {tp.offset}\n")


def assigned(consumer, partitions):
    out.write("a " + ",".join(str(tp.partition) for tp in partitions) + "\n")
    out.flush()


def revoked(consumer, partitions):
    out.write("r " + ",".join(str(tp.partition) for tp in partitions) + "\n")
    out.flush()


consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "partition.assignment.strategy": strategy,
    "session.timeout.ms": int(session_timeout_ms),
    "heartbeat.interval.ms": 300,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": True,
    "enable.auto.offset.store": False,
    "auto.commit.interval.ms": 200,
    "fetch.wait.max.ms": 100,
    "on_commit": committed,
})
consumer.subscribe([topic], on_assign=assigned, on_revoke=revoked)
while running:
    processed = []
    for msg in consumer.consume(1000, 0.2):
        if msg.error():
            out.write(f"e {msg.error()}\n")
        else:
            out.write(f"m {msg.partition()} {msg.offset()} {msg.value().decode()}\n")
            processed.append(msg)
    out.flush()
    for msg in processed:
        try:
            consumer.store_offsets(message=msg)
        except KafkaException as error:
            # A partition revoked since the batch was fetched: its next owner reads from the last commit.
            if error.args[0].code() != KafkaError._STATE:
                out.write(f"e store {error}\n")
    out.flush()
consumer.close()
out.flush()
