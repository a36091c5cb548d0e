"""confluent-kafka AdminClient: min.insync.replicas as DescribeConfigs reports it for topics and the broker; prints JSON."""
import json
import sys

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

bootstrap, topic = sys.argv[1], sys.argv[2]
admin = AdminClient({"bootstrap.servers": bootstrap})
overridden = f"{topic}-overridden"
new_topics = [NewTopic(topic, num_partitions=1, replication_factor=1), NewTopic(overridden, num_partitions=1, replication_factor=1, config={"min.insync.replicas": "3"})]
for future in admin.create_topics(new_topics).values():
    future.result()


def min_insync(resource):
    entry = admin.describe_configs([resource])[resource].result()["min.insync.replicas"]
    return {"value": entry.value, "source": entry.source, "read_only": entry.is_read_only}


print(json.dumps({
    "topic": min_insync(ConfigResource("topic", topic)),
    "overridden": min_insync(ConfigResource("topic", overridden)),
    "broker": min_insync(ConfigResource("broker", "1")),
}))
