//! A read's watermark over all its partitions, and when a partition counts as idle.
//!
//! Each partition has a watermark from its timestamp estimator. The read's watermark is the
//! minimum over its busy partitions; a partition that is caught up (its position at the
//! broker's high watermark) and has been quiet for the idle timeout is idle and does not hold
//! it back; when every partition is idle, the watermark is the largest of theirs (which then
//! follow the clock). A bounded read's finished partitions do not count.
//!
//! The splits of a read share what they know of their partitions ([`SharedWatermarks`]), so
//! that each split reports the read's watermark over every partition: a split whose
//! partitions are idle must not let another split's data close windows that its own data,
//! once it resumes, still falls into. Data tends to resume everywhere at once (a producer came
//! back), so when a caught-up partition receives a record again, every partition's idleness
//! must be established anew — caught up at a check after that, and quiet for the idle timeout
//! since then.

use super::fetch::Fetcher;
use super::timestamps::PartitionClock;
use super::topic_partition::TopicPartition;
use rdkafka::Offset;
use rdkafka::consumer::Consumer;
use sluice_sdk::time::Timestamp;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often each partition's end offset is asked for (lag metric, idleness).
const LAG_INTERVAL: Duration = Duration::from_secs(5);

/// How long the check of a partition's end offset may take (a failed check is simply made
/// again at the next one).
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the splits of one read share while they run: every partition's watermark and
/// idleness, and when data last resumed.
#[derive(Debug, Default)]
pub(crate) struct SharedWatermarks {
    /// Bumped whenever a caught-up partition receives a record again: no partition counts as
    /// idle on a check older than that.
    resumed: AtomicU64,
    /// When data last resumed (wall clock, ms): a partition counts as idle only once it has
    /// been quiet for the idle timeout since then, too.
    resumed_at_ms: AtomicI64,
    partitions: Mutex<BTreeMap<TopicPartition, SharedPartition>>,
}

/// What the read's splits know of one partition.
#[derive(Clone, Copy, Debug)]
struct SharedPartition {
    /// Its watermark.
    watermark: Timestamp,
    /// The resumption count at which it was found idle (`None`: busy).
    idle_at: Option<u64>,
    /// A bounded read reached its end offset.
    done: bool,
}

impl SharedWatermarks {
    /// How often data has resumed so far.
    fn resumptions(&self) -> u64 {
        self.resumed.load(Ordering::Relaxed)
    }

    /// Milliseconds since data last resumed.
    fn since_resumed_ms(&self, now: Timestamp) -> i64 {
        now.as_millis() - self.resumed_at_ms.load(Ordering::Relaxed)
    }

    /// A caught-up partition received data again: every partition's idleness is in doubt.
    pub(super) fn data_resumed(&self, now: Timestamp) {
        self.resumed_at_ms.store(now.as_millis(), Ordering::Relaxed);
        self.resumed.fetch_add(1, Ordering::Relaxed);
    }

    /// A split starts reading `partition` (busy, at the beginning of time, until it knows more).
    pub(super) fn track(&self, partition: &TopicPartition) {
        if let Ok(mut shared) = self.partitions.lock() {
            shared.entry(partition.clone()).or_insert(SharedPartition {
                watermark: Timestamp::MIN,
                idle_at: None,
                done: false,
            });
        }
    }

    /// `partition` moved to another group member, which reports it from now on.
    pub(super) fn forget(&self, partition: &TopicPartition) {
        if let Ok(mut shared) = self.partitions.lock() {
            shared.remove(partition);
        }
    }

    /// Records what a split found of its partitions and returns the read's watermark over
    /// all of them: the minimum over busy ones (idle ones count as idle only when found idle
    /// since data last resumed), or, when none is busy, the largest idle one's. `None` when
    /// no partition is left to decide (all finished).
    fn update(&self, seen: Vec<(TopicPartition, SharedPartition)>) -> (Option<Timestamp>, bool) {
        let resumed = self.resumptions();
        let (mut busy, mut idle_max): (Option<Timestamp>, Option<Timestamp>) = (None, None);
        if let Ok(mut shared) = self.partitions.lock() {
            shared.extend(seen);
            for s in shared.values().filter(|s| !s.done) {
                if s.idle_at == Some(resumed) {
                    idle_max = Some(idle_max.map_or(s.watermark, |m| m.max(s.watermark)));
                } else {
                    busy = Some(busy.map_or(s.watermark, |m| m.min(s.watermark)));
                }
            }
        }
        (busy.or(idle_max), busy.is_none())
    }
}

impl<K: 'static, V: 'static> Fetcher<K, V> {
    /// The read's watermark (see the [module documentation](self)). Checks each partition's
    /// end offset at most once per idle timeout (and every 5 s at least, for the lag metric).
    pub(crate) fn watermark(&mut self) -> Timestamp {
        let clock_now = Timestamp::now();
        if self.finished() {
            for p in &mut self.partitions {
                p.settle_watermark(clock_now);
            }
            return Timestamp::MAX;
        }
        let idle_timeout = self.spec.idle_timeout;
        let mut seen = Vec::with_capacity(self.partitions.len());
        for i in 0..self.partitions.len() {
            if self.partitions[i].done() {
                let p = &mut self.partitions[i];
                p.settle_watermark(clock_now);
                let done = SharedPartition {
                    watermark: Timestamp::MAX,
                    idle_at: None,
                    done: true,
                };
                seen.push((p.id.clone(), done));
                continue;
            }
            if self.partitions[i].last_check.elapsed() >= idle_timeout.min(LAG_INTERVAL) {
                self.check_caught_up(i);
            }
            // Idle: nothing for the idle timeout, and caught up at a check after the last
            // record and after data last resumed anywhere in the read.
            let resumed = self.shared.resumptions();
            let since_resumed = self.shared.since_resumed_ms(clock_now);
            let p = &mut self.partitions[i];
            let quiet = p.last_record.elapsed() >= idle_timeout
                && since_resumed >= idle_timeout.as_millis() as i64;
            let idle_at = p
                .caught_up_at
                .map(|(_, at)| at)
                .filter(|at| *at == resumed && quiet);
            let w = p.estimator.watermark(&PartitionClock {
                now: clock_now,
                idle: idle_at.is_some(),
            });
            p.watermark = p.watermark.max(w);
            let state = SharedPartition {
                watermark: p.watermark,
                idle_at,
                done: false,
            };
            seen.push((p.id.clone(), state));
        }
        // Nothing busy: every partition idle, or none at all (a group member the group gave
        // no partition, or took them all away), which must not hold the pipeline back.
        let (read_watermark, idle) = self.shared.update(seen);
        self.idle = idle;
        if let Some(m) = read_watermark {
            self.watermark = self.watermark.max(m);
        }
        tracing::trace!(watermark = ?self.watermark, "the read's watermark");
        self.watermark
    }

    /// Asks the broker for partition `i`'s high watermark: notes whether the partition is
    /// caught up, and its lag.
    fn check_caught_up(&mut self, i: usize) {
        let p = &mut self.partitions[i];
        p.last_check = Instant::now();
        match self
            .consumer
            .fetch_watermarks(&p.id.topic, p.id.partition, CHECK_TIMEOUT)
        {
            Ok((low, high)) => {
                // Nothing read yet: the consumer's own position, once it has fetched.
                let fetched = || {
                    let list = self.consumer.position().ok()?;
                    match list.find_partition(&p.id.topic, p.id.partition)?.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    }
                };
                let position =
                    p.position
                        .or_else(fetched)
                        .unwrap_or(if high == low { high } else { low });
                self.lags.insert(p.id.clone(), (high - position).max(0));
                let resumed = self.shared.resumptions();
                p.caught_up_at = (position >= high).then(|| (Instant::now(), resumed));
                tracing::debug!(
                    partition = %p.id,
                    position,
                    high,
                    "checked whether a partition is caught up"
                );
            }
            Err(e) => tracing::debug!(error = %e, "cannot check whether a partition is caught up"),
        }
    }

    /// Whether every partition was idle when the watermark was last computed.
    pub(crate) fn idle(&self) -> bool {
        self.idle
    }
}
