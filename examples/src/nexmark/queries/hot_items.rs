//! Query 5, hot items: in each window of 10 s sliding every 2 s, the auctions that received
//! the most bids.
//!
//! Flink's SQL counts bids per auction per `HOP(dateTime, INTERVAL '2' SECOND, INTERVAL '10'
//! SECOND)` and keeps, per window, the auctions whose count is the window's highest. The counts
//! share slices between windows (see `sluice_sdk::window::slices`): each bid is counted once,
//! in its 2 s slice, and a window's count merges its five slices.

use super::super::model::{Bid, Event};
use super::{bids, window_millis};
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;

/// The windows of query 5: their size and period.
pub const WINDOW: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(2));

/// What query 5 emits: an auction with the most bids in a window.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HotItem {
    /// The window's start (ms since the epoch).
    pub starttime: i64,
    /// The window's end (exclusive).
    pub endtime: i64,
    /// The auction.
    pub auction: u64,
    /// Its bids in the window.
    pub num: u64,
}

/// Keeps the auctions with the highest count: the count and the auctions that have it.
#[derive(Clone)]
pub struct MostBids;

impl CombineFn for MostBids {
    type Input = KV<u64, u64>;
    type Accumulator = (u64, Vec<u64>);
    type Output = (u64, Vec<u64>);
    fn create_accumulator(&self) -> (u64, Vec<u64>) {
        (0, Vec::new())
    }
    fn add_input(&self, acc: &mut (u64, Vec<u64>), count: KV<u64, u64>) {
        self.merge_accumulators(acc, (count.value, vec![count.key]));
    }
    fn merge_accumulators(&self, acc: &mut (u64, Vec<u64>), other: (u64, Vec<u64>)) {
        if other.0 > acc.0 {
            *acc = other;
        } else if other.0 == acc.0 {
            acc.1.extend(other.1);
        }
    }
    fn extract_output(&self, acc: &(u64, Vec<u64>)) -> (u64, Vec<u64>) {
        acc.clone()
    }
}

/// Query 5: per sliding window, the auctions with the most bids.
pub fn q5(events: &PCollection<Event>) -> PCollection<HotItem> {
    bids(events)
        .apply(
            "Window",
            WindowInto::new(SlidingWindows::of(WINDOW.0, WINDOW.1)),
        )
        .map("Auction", |b: Bid| b.auction)
        .apply("CountBids", Count::per_element())
        .apply("MostBids", Combine::globally(MostBids).without_defaults())
        .apply(
            "HotItems",
            MapWithContext::new(|(num, auctions): (u64, Vec<u64>), m: &ElementMeta| {
                let (starttime, endtime) = window_millis(&m.window);
                auctions
                    .into_iter()
                    .map(|auction| HotItem {
                        starttime,
                        endtime,
                        auction,
                        num,
                    })
                    .collect::<Vec<_>>()
            }),
        )
        .flat_map("Each", |items: Vec<HotItem>| items)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{config, generated, on_every_runner};
    use super::*;
    use sluice_sdk::testing::assert_that;
    use std::collections::BTreeMap;

    #[test]
    fn q5_finds_the_auctions_with_the_most_bids_per_sliding_window() {
        let (size, period) = (WINDOW.0.as_millis(), WINDOW.1.as_millis());
        let mut counts: BTreeMap<i64, BTreeMap<u64, u64>> = BTreeMap::new();
        for e in generated(&config()) {
            if let Event::Bid(b) = e {
                let last = b.date_time.div_euclid(period) * period;
                let mut start = last;
                while start > b.date_time - size {
                    *counts
                        .entry(start)
                        .or_default()
                        .entry(b.auction)
                        .or_default() += 1;
                    start -= period;
                }
            }
        }
        let mut expected = Vec::new();
        for (start, per_auction) in counts {
            let most = per_auction.values().copied().max().unwrap_or(0);
            for (auction, num) in per_auction {
                if num == most {
                    expected.push(HotItem {
                        starttime: start,
                        endtime: start + size,
                        auction,
                        num,
                    });
                }
            }
        }
        assert!(expected.len() > 20, "{} hot items", expected.len());
        on_every_runner(|events| assert_that(&q5(events)).contains_in_any_order(expected.clone()));
    }
}
