//! The generator as a bounded source: [`NexmarkSource`], read on any runner.

use super::generator::GeneratorConfig;
use super::model::Event;
use sluice_sdk::error::BoxError;
use sluice_sdk::source::{BoundedSource, SourceReader};
use sluice_sdk::time::Timestamp;
use sluice_sdk::windowed_value::TimestampedValue;
use std::sync::Arc;

/// About how many bytes an event takes, on average (46 bids, 3 auctions and a person of the
/// model's sizes per 50 events).
const AVERAGE_EVENT_BYTES: u64 = (46 * 100 + 3 * 500 + 200) / 50;

/// Events `start..end` of a generator, each at its time. It splits by event numbers; since
/// an event depends only on its number, every split reads what it would read unsplit.
#[derive(Clone, Debug)]
pub struct NexmarkSource {
    config: Arc<GeneratorConfig>,
    start: u64,
    end: u64,
}

impl NexmarkSource {
    /// Every event `config` describes.
    pub fn new(config: GeneratorConfig) -> Self {
        let end = config.events;
        NexmarkSource {
            config: Arc::new(config),
            start: 0,
            end,
        }
    }
}

impl BoundedSource for NexmarkSource {
    type Output = Event;
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        let len = self.end - self.start;
        let step = len.div_ceil(desired.max(1) as u64).max(1);
        Ok((self.start..self.end)
            .step_by(step as usize)
            .map(|start| NexmarkSource {
                config: self.config.clone(),
                start,
                end: (start + step).min(self.end),
            })
            .collect())
    }
    fn estimated_size_bytes(&self) -> Option<u64> {
        Some((self.end - self.start) * AVERAGE_EVENT_BYTES)
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<Event>>, BoxError> {
        Ok(Box::new(NexmarkReader {
            source: self.clone(),
            next: self.start,
        }))
    }
}

struct NexmarkReader {
    source: NexmarkSource,
    next: u64,
}

impl SourceReader<Event> for NexmarkReader {
    fn read_batch(
        &mut self,
        max: usize,
        out: &mut Vec<TimestampedValue<Event>>,
    ) -> Result<bool, BoxError> {
        let stop = (self.next + max.max(1) as u64).min(self.source.end);
        for n in self.next..stop {
            let (event, at) = self.source.config.event(n);
            out.push(TimestampedValue::new(event, Timestamp::from_millis(at)));
        }
        self.next = stop;
        Ok(self.next < self.source.end)
    }
    fn consumed_bytes(&self) -> Option<u64> {
        Some((self.next - self.source.start) * AVERAGE_EVENT_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(source: &NexmarkSource) -> Vec<(Event, i64)> {
        let mut reader = source.reader().unwrap();
        let mut out = Vec::new();
        while reader.read_batch(7, &mut out).unwrap() {}
        out.into_iter()
            .map(|tv| (tv.value, tv.timestamp.as_millis()))
            .collect()
    }

    #[test]
    fn splits_read_together_what_the_source_reads() {
        let source = NexmarkSource::new(GeneratorConfig {
            events: 1000,
            out_of_order_group: 10,
            ..Default::default()
        });
        let whole = read_all(&source);
        assert_eq!(whole.len(), 1000);
        let parts: Vec<(Event, i64)> = source.split(3).unwrap().iter().flat_map(read_all).collect();
        assert_eq!(parts, whole);
        let config = GeneratorConfig {
            events: 1000,
            out_of_order_group: 10,
            ..Default::default()
        };
        assert_eq!(whole[500], config.event(500));
    }
}
