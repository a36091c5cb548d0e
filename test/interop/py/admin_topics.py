"""confluent-kafka AdminClient: create, list, describe and delete topics; prints one JSON report."""
import json
import sys

from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, prefix = sys.argv[1], sys.argv[2]
admin = AdminClient({"bootstrap.servers": bootstrap})
report = {}

futures = admin.create_topics(
    [
        NewTopic(f"{prefix}-a", num_partitions=3, replication_factor=1),
        NewTopic(f"{prefix}-b", num_partitions=1, replication_factor=1, config={"retention.ms": "3600000"}),
    ],
    operation_timeout=10,
)
report["created"] = {}
for name, future in futures.items():
    try:
        future.result()
        report["created"][name] = "ok"
    except Exception as error:  # the error text is the result under test
        report["created"][name] = str(error)

duplicate = admin.create_topics([NewTopic(f"{prefix}-a", num_partitions=1, replication_factor=1)])
try:
    duplicate[f"{prefix}-a"].result()
    report["duplicate"] = "ok"
except Exception as error:
    report["duplicate"] = error.args[0].name()

bad = admin.create_topics([NewTopic(f"{prefix}-c", num_partitions=1, replication_factor=1, config={"no.such.config": "1"})])
try:
    bad[f"{prefix}-c"].result()
    report["bad_config"] = "ok"
except Exception as error:
    report["bad_config"] = error.args[0].name()

metadata = admin.list_topics(timeout=10)
report["cluster_id"] = metadata.cluster_id
report["brokers"] = [f"{b.host}:{b.port}" for b in metadata.brokers.values()]
report["topics"] = {
    name: len(topic.partitions) for name, topic in metadata.topics.items() if name.startswith(prefix)
}

for name, future in admin.delete_topics([f"{prefix}-b"], operation_timeout=10).items():
    future.result()
report["after_delete"] = sorted(t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix))
print(json.dumps(report))
