//! Helpers for programs that drive librdkafka's producer themselves — load generators,
//! benchmarks, test fixtures — next to pipelines. A pipeline needs none of this: it writes
//! with [`KafkaWrite`](super::KafkaWrite).

use rdkafka::producer::{BaseProducer, BaseRecord, ProducerContext};

/// Sends `record`, waiting while the producer's local queue is full: the wait serves delivery
/// reports (failed deliveries reach the producer's context), which makes room. Between sends
/// the caller serves them now and then with `producer.poll(Duration::ZERO)`, and at the end
/// with `flush`.
pub fn send_when_room<C, K, P>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, K, P>,
) -> Result<(), rdkafka::error::KafkaError>
where
    C: ProducerContext<DeliveryOpaque = ()>,
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                r,
            )) => {
                record = r;
                producer.poll(std::time::Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e),
        }
    }
}
