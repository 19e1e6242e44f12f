#!/bin/sh
# The one Kafka node of deploy/compose.yaml, in the apache/kafka image: KRaft (broker and controller),
# clients on SASL/SCRAM-SHA-512 with ACLs, its log on the kafka-data volume, formatted once with the
# admin's credential; compose/kafka-init.sh makes the other users, the ACLs and the topics.
set -eu
: "${CENTINELA_PASSWORD_ADMIN:?}" "${CENTINELA_PASSWORD_CONTROLLER:?}"
bin=/opt/kafka/bin
data=/var/lib/kafka/data
config=/tmp/server.properties
umask 077
cat > "$config" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=CLIENT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=CLIENT://kafka:9092
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=CLIENT
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$CENTINELA_PASSWORD_ADMIN";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$CENTINELA_PASSWORD_CONTROLLER" user_controller="$CENTINELA_PASSWORD_CONTROLLER";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:controller
log.dirs=$data
auto.create.topics.enable=false
message.max.bytes=33554432
replica.fetch.max.bytes=33554432
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPERTIES
if [ ! -f "$data/meta.properties" ]; then
  # Quiet: the tool prints the admin's salted SCRAM keys.
  "$bin/kafka-storage.sh" format -t "$("$bin/kafka-storage.sh" random-uuid)" -c "$config" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$CENTINELA_PASSWORD_ADMIN]" >/dev/null
fi
exec "$bin/kafka-server-start.sh" "$config"
