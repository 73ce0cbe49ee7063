//! [`PeriodicImpulse`]: an unbounded source that emits the current time at a fixed interval.
//!
//! As Beam's `PeriodicImpulse`, it drives work on a schedule inside a streaming pipeline: the
//! usual use is a **slowly changing side input** — every tick re-reads a reference table (a
//! file, a database), and the ticks' results, in the global window with a repeated trigger,
//! form a view that main-input elements see in its latest state. Each tick is the processing
//! time it fired at, stamped with that time; the source's watermark follows the ticks.

use sluice_sdk::error::BoxError;
use sluice_sdk::source::{UnboundedReader, UnboundedSource};
use sluice_sdk::time::{Duration, Timestamp};
use sluice_sdk::windowed_value::TimestampedValue;

/// Emits a tick every `interval`, the first at once; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct PeriodicImpulse {
    interval: Duration,
    limit: Option<u64>,
}

impl PeriodicImpulse {
    /// A tick every `interval` (at least 1 ms), forever.
    pub fn every(interval: Duration) -> Self {
        PeriodicImpulse {
            interval: interval.max(Duration::from_millis(1)),
            limit: None,
        }
    }
    /// Stops (the source ends, its watermark at the end of time) after `ticks` ticks.
    pub fn stop_after(mut self, ticks: u64) -> Self {
        self.limit = Some(ticks);
        self
    }
}

impl UnboundedSource for PeriodicImpulse {
    type Output = Timestamp;
    fn split(&self, _desired: usize) -> Result<Vec<Self>, BoxError> {
        // One schedule: ticks are not split.
        Ok(vec![self.clone()])
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<Timestamp>>, BoxError> {
        Ok(Box::new(Ticker {
            interval: std::time::Duration::from_micros(self.interval.as_micros() as u64),
            limit: self.limit,
            next: None,
            emitted: 0,
            watermark: Timestamp::MIN,
        }))
    }
}

struct Ticker {
    interval: std::time::Duration,
    limit: Option<u64>,
    /// When the next tick is due (none before the first).
    next: Option<tokio::time::Instant>,
    emitted: u64,
    watermark: Timestamp,
}

#[async_trait::async_trait]
impl UnboundedReader<Timestamp> for Ticker {
    async fn next_batch(
        &mut self,
        _max: usize,
    ) -> Result<Option<Vec<TimestampedValue<Timestamp>>>, BoxError> {
        if self.limit.is_some_and(|l| self.emitted >= l) {
            self.watermark = Timestamp::MAX;
            return Ok(None);
        }
        if let Some(due) = self.next {
            tokio::time::sleep_until(due).await;
        }
        let fired = tokio::time::Instant::now();
        self.next = Some(fired + self.interval);
        self.emitted += 1;
        let now = Timestamp::now();
        self.watermark = self.watermark.max(now);
        Ok(Some(vec![TimestampedValue::new(now, now)]))
    }
    fn watermark(&self) -> Timestamp {
        self.watermark
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ticks_at_the_interval_then_ends() {
        let source = PeriodicImpulse::every(Duration::from_secs(10)).stop_after(3);
        let mut reader = source.reader().unwrap();
        let start = tokio::time::Instant::now();
        let mut ticks = Vec::new();
        while let Some(batch) = reader.next_batch(10).await.unwrap() {
            assert_eq!(batch.len(), 1);
            ticks.push(start.elapsed().as_secs());
            assert!(reader.watermark() <= Timestamp::now());
        }
        assert_eq!(ticks, vec![0, 10, 20]);
        assert_eq!(reader.watermark(), Timestamp::MAX);
    }
}
