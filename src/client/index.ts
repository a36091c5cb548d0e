export { KafkaConnection, KafkaError, ConnectionClosedError, parseBootstrap, type ConnectionOptions, type VersionRange } from "./connection.ts";
export { Producer, BufferFullError, type Acks, type DeliveryReport, type ProduceRecord, type ProducerOptions } from "./producer.ts";
export { Consumer, type Assignment, type ConsumerOptions, type ConsumerRecord } from "./consumer.ts";
export { decodeRecords, CorruptRecordError, type DecodedRecord, type DecodeResult, type RecordHeader } from "./record-decoder.ts";
export { createTopics, type NewTopic } from "./admin.ts";
