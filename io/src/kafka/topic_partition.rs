//! [`TopicPartition`]: one partition of one topic — the unit that Kafka reads, assigns to
//! group members and commits offsets for.

use std::fmt;

/// One partition of a topic.
///
/// ```
/// use sluice_io::kafka::TopicPartition;
/// let p = TopicPartition::new("clicks", 3);
/// assert_eq!(p.to_string(), "clicks/3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition's number in the topic.
    pub partition: i32,
}

impl TopicPartition {
    /// Partition `partition` of `topic`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Whether this is partition `partition` of `topic`.
    pub(crate) fn is(&self, topic: &str, partition: i32) -> bool {
        self.partition == partition && self.topic == topic
    }

    /// The partitions of a librdkafka list, in its order.
    pub(crate) fn all_of(list: &rdkafka::TopicPartitionList) -> Vec<TopicPartition> {
        list.elements()
            .iter()
            .map(|e| TopicPartition::new(e.topic(), e.partition()))
            .collect()
    }
}

impl fmt::Display for TopicPartition {
    /// `topic/partition`, as metrics and messages name a partition.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}
