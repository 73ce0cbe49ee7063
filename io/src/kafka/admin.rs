//! Administrative helpers: create a topic, read a topic's end offsets.

use super::KafkaError;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::Duration;

fn admin_error(bootstrap: &str, message: String) -> KafkaError {
    KafkaError::Admin {
        bootstrap: bootstrap.to_string(),
        message,
    }
}

/// Creates `topic` with `partitions` partitions (replication 1) unless it exists.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| admin_error(bootstrap, format!("cannot create an admin client: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| admin_error(bootstrap, format!("cannot start a runtime: {e}")))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = runtime
        .block_on(admin.create_topics([&new], &options))
        .map_err(|e| admin_error(bootstrap, format!("cannot create topic '{topic}': {e}")))?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(admin_error(
                    bootstrap,
                    format!("cannot create topic '{name}': {code}"),
                ));
            }
        }
    }
    Ok(())
}

/// Whether `topic` exists; fails when the broker does not answer within 10 s.
pub fn topic_exists(bootstrap: &str, topic: &str) -> Result<bool, KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .map_err(|e| admin_error(bootstrap, format!("cannot create a client: {e}")))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| admin_error(bootstrap, format!("cannot read metadata: {e}")))?;
    Ok(metadata
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty()))
}

/// The end offset (high watermark: the offset the next record will get) of every partition
/// of `topic`, by partition.
pub fn end_offsets(bootstrap: &str, topic: &str) -> Result<Vec<(i32, i64)>, KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| admin_error(bootstrap, format!("cannot create a consumer: {e}")))?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| admin_error(bootstrap, format!("cannot read metadata: {e}")))?;
    let mut ends = Vec::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .map_err(|e| {
                    admin_error(
                        bootstrap,
                        format!("cannot read offsets of {topic}/{}: {e}", p.id()),
                    )
                })?;
            ends.push((p.id(), high));
        }
    }
    ends.sort_unstable();
    Ok(ends)
}
