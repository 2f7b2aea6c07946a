package workshop.statefun;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps one Kafka record without a key or without a value from stopping the StateFun job.
 *
 * <p>StateFun 3.3.0's Kafka ingress fails the job on such a record: the job restarts from its
 * last checkpoint, reads the same record and fails again, for ever. Configured on each ingress
 * in module.yaml ({@code interceptor.classes}), this consumer interceptor hands the ingress an
 * empty value instead (and, for a record without a key, an id that says where the record is),
 * and logs it. The function it reaches refuses the empty message and writes it to the
 * dead-letters topic, like any other bad record; the original stays in Kafka at its offset.
 */
public final class NullRecordGuard implements ConsumerInterceptor<byte[], byte[]> {

  private static final Logger LOG = LoggerFactory.getLogger(NullRecordGuard.class);
  private static final byte[] EMPTY = new byte[0];

  @Override
  public ConsumerRecords<byte[], byte[]> onConsume(ConsumerRecords<byte[], byte[]> records) {
    if (!hasNullKeyOrValue(records)) {
      return records; // the usual case costs one pass and no copy
    }
    Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> guarded = new HashMap<>();
    for (TopicPartition partition : records.partitions()) {
      List<ConsumerRecord<byte[], byte[]>> batch = new ArrayList<>();
      for (ConsumerRecord<byte[], byte[]> record : records.records(partition)) {
        batch.add(guard(record));
      }
      guarded.put(partition, batch);
    }
    return new ConsumerRecords<>(guarded);
  }

  private static boolean hasNullKeyOrValue(ConsumerRecords<byte[], byte[]> records) {
    for (ConsumerRecord<byte[], byte[]> record : records) {
      if (record.key() == null || record.value() == null) {
        return true;
      }
    }
    return false;
  }

  private static ConsumerRecord<byte[], byte[]> guard(ConsumerRecord<byte[], byte[]> record) {
    if (record.key() != null && record.value() != null) {
      return record;
    }
    String where = record.topic() + "-" + record.partition() + "@" + record.offset();
    byte[] key = record.key();
    if (key == null) {
      key = ("no-key:" + where).getBytes(StandardCharsets.UTF_8);
      LOG.warn("Record {} has no key: passed on empty, as {}, to be dead-lettered", where, "no-key:" + where);
    } else {
      LOG.warn("Record {} (key {}) has no value: passed on empty, to be dead-lettered",
          where, new String(key, StandardCharsets.UTF_8));
    }
    return new ConsumerRecord<>(record.topic(), record.partition(), record.offset(), record.timestamp(),
        record.timestampType(), key.length, 0, key, EMPTY, record.headers(), record.leaderEpoch());
  }

  @Override
  public void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) {}

  @Override
  public void close() {}

  @Override
  public void configure(Map<String, ?> configs) {}
}
