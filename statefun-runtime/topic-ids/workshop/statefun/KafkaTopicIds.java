package workshop.statefun;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;

/**
 * Prints the id Kafka gave each named topic, a line each: {@code transactions Q2xk...}.
 *
 * <p>A topic gets a new id whenever it is created, so a topic recreated since the checkpoints
 * were taken ({@code down -v}, or deleted by hand) has another id than the one recorded beside
 * them. last-state.sh compares the two before it resumes a checkpoint: the Kafka offsets in a
 * checkpoint only mean something for the topics they were read from. Run with the runtime's own
 * jars on the class path (StateFun's distribution carries the Kafka client).
 */
public final class KafkaTopicIds {

  public static void main(String[] args) throws InterruptedException {
    if (args.length < 2) {
      System.err.println("usage: KafkaTopicIds BOOTSTRAP_SERVERS TOPIC [TOPIC ...]");
      System.exit(64);
    }
    List<String> topics = Arrays.asList(args).subList(1, args.length);
    Properties settings = new Properties();
    settings.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    settings.put(AdminClientConfig.CLIENT_ID_CONFIG, "last-state");
    settings.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    try (Admin admin = Admin.create(settings)) {
      Map<String, TopicDescription> described =
          admin.describeTopics(topics).allTopicNames().get(60, TimeUnit.SECONDS);
      for (String topic : topics) {
        System.out.println(topic + " " + described.get(topic).topicId());
      }
    } catch (ExecutionException | java.util.concurrent.TimeoutException problem) {
      Throwable cause = problem.getCause() != null ? problem.getCause() : problem;
      System.err.println("cannot describe the topics " + topics + " at " + args[0] + ": " + cause);
      System.exit(1);
    }
  }
}
