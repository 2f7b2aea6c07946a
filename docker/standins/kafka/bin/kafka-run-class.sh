#!/bin/bash
# Runs a Kafka class with /opt/kafka/libs on the classpath and the JVM defaults of Kafka's own
# kafka-run-class.sh: a 256 MB heap unless KAFKA_HEAP_OPTS says otherwise, G1, the tools' log4j.
base_dir=$(cd "$(dirname "$0")/.." && pwd)
LOG_DIR=${LOG_DIR:-$base_dir/logs}
mkdir -p "$LOG_DIR"
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx256M}
KAFKA_JVM_PERFORMANCE_OPTS=${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true}
KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j.configuration=file:$base_dir/config/tools-log4j.properties}
if [ -n "$KAFKA_JMX_PORT" ]; then
  KAFKA_JMX_OPTS=${KAFKA_JMX_OPTS:--Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false} 
  KAFKA_JMX_OPTS="$KAFKA_JMX_OPTS -Dcom.sun.management.jmxremote.port=$KAFKA_JMX_PORT"
fi
# shellcheck disable=SC2086  # the *_OPTS are lists of words, as in Kafka's script
exec "$JAVA_HOME/bin/java" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS $KAFKA_JMX_OPTS $KAFKA_LOG4J_OPTS \
  "-Dkafka.logs.dir=$LOG_DIR" $KAFKA_OPTS -cp "$base_dir/libs/*" "$@"
