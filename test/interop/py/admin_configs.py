"""confluent-kafka AdminClient: describe and alter configs, add partitions; prints one JSON report."""
import json
import sys

from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

bootstrap, topic = sys.argv[1], sys.argv[2]
admin = AdminClient({"bootstrap.servers": bootstrap})
report = {}


def error_name(future):
    try:
        future.result()
        return "ok"
    except Exception as error:  # the Kafka error is the result under test
        return error.args[0].name() if error.args and hasattr(error.args[0], "name") else str(error)


def topic_configs():
    resource = ConfigResource("topic", topic)
    entries = admin.describe_configs([resource])[resource].result()
    return {name: {"value": e.value, "source": e.source, "read_only": e.is_read_only} for name, e in entries.items()}


for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
    future.result()

before = topic_configs()
report["retention_before"] = before["retention.ms"]

altered = admin.alter_configs([ConfigResource("topic", topic, set_config={"retention.ms": "3600000", "cleanup.policy": "compact"})])
report["alter"] = error_name(next(iter(altered.values())))
after = topic_configs()
report["retention_after"] = after["retention.ms"]
report["cleanup_after"] = after["cleanup.policy"]["value"]

validate_only = admin.alter_configs([ConfigResource("topic", topic, set_config={"retention.ms": "1"})], validate_only=True)
report["validate_only"] = error_name(next(iter(validate_only.values())))
report["retention_after_validate_only"] = topic_configs()["retention.ms"]["value"]

unknown = admin.alter_configs([ConfigResource("topic", topic, set_config={"no.such.config": "1"})])
report["unknown_config"] = error_name(next(iter(unknown.values())))
bad_value = admin.alter_configs([ConfigResource("topic", topic, set_config={"retention.ms": "later"})])
report["bad_value"] = error_name(next(iter(bad_value.values())))
missing = ConfigResource("topic", f"{topic}-missing")
report["missing_topic"] = error_name(admin.describe_configs([missing])[missing])

broker = ConfigResource("broker", "1")
broker_entries = admin.describe_configs([broker])[broker].result()
report["broker"] = {name: {"value": broker_entries[name].value, "read_only": broker_entries[name].is_read_only} for name in ["num.partitions", "message.max.bytes"]}
broker_alter = admin.alter_configs([ConfigResource("broker", "1", set_config={"num.partitions": "4"})])
report["broker_alter"] = error_name(next(iter(broker_alter.values())))

report["grow"] = error_name(admin.create_partitions([NewPartitions(topic, 3)])[topic])
report["shrink"] = error_name(admin.create_partitions([NewPartitions(topic, 2)])[topic])
report["partitions"] = len(admin.list_topics(topic, timeout=10).topics[topic].partitions)

print(json.dumps(report))
