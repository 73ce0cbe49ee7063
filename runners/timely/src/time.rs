//! Timely timestamps that carry event time.
//!
//! A batch travelling through the timely dataflow is stamped with a [`Time`]: a pair of an
//! **epoch** and a **watermark**, ordered as a product (one time is before another when both
//! of its parts are). A source sends what it reads at its current watermark, and the epoch it
//! is in; an operator's input frontier then says which (epoch, watermark) pairs may still
//! arrive, and its input watermark is the least watermark part in that frontier. Keeping the
//! two parts apart lets an operator hold one without the other: a grouping that buffers
//! records read in an old epoch keeps that epoch open (so their source's offsets are not
//! committed yet) while the watermark downstream moves on.

use sluice_sdk::time::Timestamp;
use timely::order::Product;
use timely::progress::frontier::MutableAntichain;

/// A timely timestamp: `outer` is the epoch, `inner` the watermark (see [`watermark_part`]).
pub type Time = Product<u64, u64>;

/// The flip of the sign bit that maps event time, in order, onto `u64`.
const SIGN: u64 = 1 << 63;

/// The watermark part of a [`Time`] for event time `t` (order-preserving).
pub fn watermark_part(t: Timestamp) -> u64 {
    (t.as_micros() as u64) ^ SIGN
}

/// The event time a watermark part stands for.
pub fn event_time(part: u64) -> Timestamp {
    Timestamp::from_micros((part ^ SIGN) as i64)
}

/// The time of data read in `epoch` while the watermark was `watermark`.
pub fn time_at(epoch: u64, watermark: Timestamp) -> Time {
    Product::new(epoch, watermark_part(watermark))
}

/// The input watermark an input frontier stands for: the least watermark part that may still
/// arrive, or the end of time once nothing can.
pub fn input_watermark(frontier: &MutableAntichain<Time>) -> Timestamp {
    frontier
        .frontier()
        .iter()
        .map(|t| t.inner)
        .min()
        .map_or(Timestamp::MAX, event_time)
}

/// The least epoch that may still arrive at an input, if any.
pub fn input_epoch(frontier: &MutableAntichain<Time>) -> Option<u64> {
    frontier.frontier().iter().map(|t| t.outer).min()
}

/// The least time at or after both (part by part).
pub fn join(a: &Time, b: &Time) -> Time {
    Product::new(a.outer.max(b.outer), a.inner.max(b.inner))
}

/// The greatest time at or before both (part by part).
pub fn meet(a: &Time, b: &Time) -> Time {
    Product::new(a.outer.min(b.outer), a.inner.min(b.inner))
}

/// The greatest time at or before every time of every frontier (part by part), if any time
/// may still arrive.
pub fn least<'a>(frontiers: impl IntoIterator<Item = &'a MutableAntichain<Time>>) -> Option<Time> {
    let mut least: Option<Time> = None;
    for frontier in frontiers {
        for t in frontier.frontier().iter() {
            least = Some(least.map_or(*t, |l| meet(&l, t)));
        }
    }
    least
}

/// The least watermark over several input frontiers (the end of time once all are empty).
pub fn watermark_of<'a>(
    frontiers: impl IntoIterator<Item = &'a MutableAntichain<Time>>,
) -> Timestamp {
    frontiers
        .into_iter()
        .map(input_watermark)
        .min()
        .unwrap_or(Timestamp::MAX)
}

/// The least epoch over several input frontiers, if any may still arrive.
pub fn epoch_of<'a>(
    frontiers: impl IntoIterator<Item = &'a MutableAntichain<Time>>,
) -> Option<u64> {
    frontiers.into_iter().filter_map(input_epoch).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_parts_keep_the_order_of_event_time() {
        let times = [
            Timestamp::MIN,
            Timestamp::from_secs(-5),
            Timestamp::from_micros(0),
            Timestamp::from_secs(7),
            Timestamp::MAX,
        ];
        for pair in times.windows(2) {
            assert!(
                watermark_part(pair[0]) < watermark_part(pair[1]),
                "{pair:?}"
            );
        }
        for t in times {
            assert_eq!(event_time(watermark_part(t)), t);
        }
    }

    #[test]
    fn the_input_watermark_is_the_least_watermark_part_of_the_frontier() {
        let mut frontier = MutableAntichain::new();
        assert_eq!(input_watermark(&frontier), Timestamp::MAX);
        frontier.update_iter([
            (time_at(3, Timestamp::from_secs(10)), 1),
            (time_at(5, Timestamp::from_secs(4)), 1),
        ]);
        assert_eq!(input_watermark(&frontier), Timestamp::from_secs(4));
        assert_eq!(input_epoch(&frontier), Some(3));
    }
}
