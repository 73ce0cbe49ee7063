//! The generator as an unbounded source: [`NexmarkStream`], the events of a run in streaming
//! mode, with a watermark.
//!
//! Each split reads every `step`-th event from its own first one, so that all splits move
//! through event time together. After emitting up to event `n`, a split's watermark is the
//! generator's [`watermark_after`](GeneratorConfig::watermark_after) its next event: the
//! generator shuffles events only within groups, so no later event is earlier. At the end the
//! source ends (its watermark jumps to the end of time).

use super::generator::GeneratorConfig;
use super::model::Event;
use sluice_sdk::error::BoxError;
use sluice_sdk::source::{UnboundedReader, UnboundedSource};
use sluice_sdk::time::Timestamp;
use sluice_sdk::windowed_value::TimestampedValue;
use std::sync::Arc;

/// The events of a generator as a stream; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct NexmarkStream {
    config: Arc<GeneratorConfig>,
    first: u64,
    step: u64,
}

impl NexmarkStream {
    /// The events of `config`, as a stream.
    pub fn new(config: GeneratorConfig) -> Self {
        NexmarkStream {
            config: Arc::new(config),
            first: 0,
            step: 1,
        }
    }
}

impl UnboundedSource for NexmarkStream {
    type Output = Event;
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        let parts = desired.max(1) as u64;
        Ok((0..parts)
            .map(|i| NexmarkStream {
                config: self.config.clone(),
                first: self.first + i * self.step,
                step: self.step * parts,
            })
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<Event>>, BoxError> {
        Ok(Box::new(StreamReader {
            stream: self.clone(),
            next: self.first,
        }))
    }
}

struct StreamReader {
    stream: NexmarkStream,
    next: u64,
}

#[async_trait::async_trait]
impl UnboundedReader<Event> for StreamReader {
    async fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<Option<Vec<TimestampedValue<Event>>>, BoxError> {
        let (config, step) = (&self.stream.config, self.stream.step);
        if self.next >= config.events {
            return Ok(None);
        }
        let mut batch = Vec::with_capacity(max.min(4096));
        while batch.len() < max.max(1) && self.next < config.events {
            let (event, at) = config.event(self.next);
            batch.push(TimestampedValue::new(event, Timestamp::from_millis(at)));
            self.next += step;
        }
        Ok(Some(batch))
    }
    fn watermark(&self) -> Timestamp {
        let config = &self.stream.config;
        if self.next >= config.events {
            Timestamp::MAX
        } else {
            Timestamp::from_millis(config.watermark_after(self.next))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything a split reads, with the watermark before each batch.
    fn read_all(stream: &NexmarkStream) -> Vec<(Timestamp, Vec<i64>)> {
        let mut reader = stream.reader().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut out = Vec::new();
        loop {
            let watermark = reader.watermark();
            match runtime.block_on(reader.next_batch(7)).unwrap() {
                Some(batch) => out.push((
                    watermark,
                    batch.iter().map(|tv| tv.timestamp.as_millis()).collect(),
                )),
                None => break,
            }
        }
        assert_eq!(reader.watermark(), Timestamp::MAX);
        out
    }

    #[test]
    fn splits_read_every_event_once_and_no_event_goes_behind_their_watermark() {
        let config = GeneratorConfig {
            events: 1000,
            out_of_order_group: 10,
            ..Default::default()
        };
        let splits = NexmarkStream::new(config.clone()).split(3).unwrap();
        let mut times = Vec::new();
        for split in &splits {
            let mut latest_watermark = Timestamp::MIN;
            for (watermark, batch) in read_all(split) {
                assert!(
                    watermark >= latest_watermark,
                    "the watermark never goes back"
                );
                latest_watermark = watermark;
                for t in batch {
                    assert!(
                        Timestamp::from_millis(t) >= watermark,
                        "{t} behind {watermark}"
                    );
                    times.push(t);
                }
            }
        }
        let mut expected: Vec<i64> = (0..1000).map(|n| config.event(n).1).collect();
        times.sort();
        expected.sort();
        assert_eq!(times, expected);
    }
}
