package workshop.metrics;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Properties;
import org.apache.flink.metrics.prometheus.AbstractPrometheusReporter;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;
import io.prometheus.client.exporter.HTTPServer;

/**
 * Flink's Prometheus reporter, listening on one address instead of every interface.
 *
 * <p>Flink 1.16's {@code PrometheusReporter} opens its HTTP server with a port only, so it
 * listens on every interface of the machine. That is right in a container (Prometheus scrapes
 * it over Compose's network; no host port is published) but not in the Docker-free mode, where
 * every port stays on 127.0.0.1. This factory makes the same reporter (the same metric names,
 * from the same {@code AbstractPrometheusReporter}) on {@code host} and {@code port}:
 *
 * <pre>
 * metrics.reporter.prom.factory.class: workshop.metrics.LoopbackPrometheusReporterFactory
 * metrics.reporter.prom.host: 127.0.0.1
 * metrics.reporter.prom.port: 9249
 * </pre>
 *
 * <p>It is a plugin like Flink's: its jar sits in plugins/metrics-prometheus/ beside Flink's,
 * whose classes it extends, and META-INF/services names it (local/jvm.py builds the folder).
 */
public final class LoopbackPrometheusReporterFactory implements MetricReporterFactory {

  static final String DEFAULT_HOST = "127.0.0.1";

  @Override
  public MetricReporter createMetricReporter(Properties properties) {
    String host = properties.getProperty("host", DEFAULT_HOST);
    String port = properties.getProperty("port");
    if (port == null || !port.matches("[0-9]+")) {
      throw new IllegalArgumentException(
          "metrics.reporter.prom.port must be one port number for this reporter, not " + port);
    }
    return new Reporter(host, Integer.parseInt(port));
  }

  /** The metrics of AbstractPrometheusReporter, served by an HTTP server on host:port. */
  static final class Reporter extends AbstractPrometheusReporter {

    private final HTTPServer server;

    Reporter(String host, int port) {
      try {
        server = new HTTPServer(host, port); // the default registry, as Flink's reporter serves
      } catch (IOException e) {
        throw new UncheckedIOException("Prometheus reporter could not listen on " + host + ":" + port, e);
      }
      log.info("Started PrometheusReporter HTTP server on {}:{}.", host, port);
    }

    @Override
    public void close() {
      server.stop();
      super.close();
    }
  }
}
