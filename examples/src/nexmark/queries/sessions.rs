//! Queries 11 and 12: bids per bidder, in event-time sessions and in processing-time windows.
//!
//! - Query 11, user sessions: a bidder's session lasts while their bids come less than 10 s
//!   apart (Flink's `SESSION(dateTime, INTERVAL '10' SECOND)`); it emits the session's bids.
//! - Query 12, processing-time windows: each bidder's bids counted over every 10 s of
//!   processing time (Beam's Query12: the global window, a pane 10 s of processing time after
//!   a pane's first bid, discarding). Its panes depend on how fast the input is read, so the
//!   counts are not deterministic; their sum per bidder is.

use super::super::model::{Bid, Event};
use super::{bids, window_millis};
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;

/// The gap that ends a session of query 11.
pub const SESSION_GAP: Duration = Duration::from_secs(10);

/// What queries 11 and 12 emit: a bidder's bids in a window (a session, or a processing-time
/// pane of the global window).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BidderCount {
    /// The bidder.
    pub bidder: u64,
    /// Their bids in the window.
    pub bid_count: u64,
    /// The window's start (ms since the epoch); the earliest time for the global window.
    pub starttime: i64,
    /// The window's end (exclusive); the latest time for the global window.
    pub endtime: i64,
}

/// Counts each bidder's bids per window of `bidders`, described with the window.
fn counts_per_window(bidders: &PCollection<u64>) -> PCollection<BidderCount> {
    bidders.apply("Count", Count::per_element()).apply(
        "Describe",
        MapWithContext::new(|kv: KV<u64, u64>, m: &ElementMeta| {
            let (starttime, endtime) = window_millis(&m.window);
            BidderCount {
                bidder: kv.key,
                bid_count: kv.value,
                starttime,
                endtime,
            }
        }),
    )
}

/// Query 11: the bids of each bidder's sessions.
pub fn q11(events: &PCollection<Event>) -> PCollection<BidderCount> {
    let bidders = bids(events)
        .apply("Sessions", WindowInto::new(Sessions::with_gap(SESSION_GAP)))
        .map("Bidder", |b: Bid| b.bidder);
    counts_per_window(&bidders)
}

/// Query 12: the bids of each bidder, a pane every `every` of processing time.
pub fn q12(events: &PCollection<Event>, every: Duration) -> PCollection<BidderCount> {
    let bidders = bids(events)
        .apply(
            "ProcessingTime",
            WindowInto::new(GlobalWindows)
                .triggering(Trigger::repeatedly(Trigger::after_processing_time(every)))
                .discarding_fired_panes(),
        )
        .map("Bidder", |b: Bid| b.bidder);
    counts_per_window(&bidders)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{config, generated, on_every_runner};
    use super::*;
    use sluice_sdk::testing::assert_that;
    use std::collections::BTreeMap;

    #[test]
    fn q11_counts_the_bids_of_each_session() {
        let gap = SESSION_GAP.as_millis();
        let mut times: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
        for e in generated(&config()) {
            if let Event::Bid(b) = e {
                times.entry(b.bidder).or_default().push(b.date_time);
            }
        }
        let mut expected = Vec::new();
        for (bidder, mut ts) in times {
            ts.sort();
            let mut session: Option<(i64, i64, u64)> = None;
            for t in ts {
                session = match session {
                    Some((start, end, n)) if t < end => Some((start, end.max(t + gap), n + 1)),
                    done => {
                        if let Some((starttime, endtime, bid_count)) = done {
                            expected.push(BidderCount {
                                bidder,
                                bid_count,
                                starttime,
                                endtime,
                            });
                        }
                        Some((t, t + gap, 1))
                    }
                };
            }
            if let Some((starttime, endtime, bid_count)) = session {
                expected.push(BidderCount {
                    bidder,
                    bid_count,
                    starttime,
                    endtime,
                });
            }
        }
        assert!(expected.len() > 100, "{} sessions", expected.len());
        on_every_runner(|events| assert_that(&q11(events)).contains_in_any_order(expected.clone()));
    }

    #[test]
    fn q12_panes_add_up_to_each_bidders_bids() {
        let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
        for e in generated(&config()) {
            if let Event::Bid(b) = e {
                *expected.entry(b.bidder).or_default() += 1;
            }
        }
        let expected: Vec<KV<u64, u64>> =
            expected.into_iter().map(|(k, v)| KV::new(k, v)).collect();
        on_every_runner(|events| {
            let totals = q12(events, Duration::from_millis(1))
                .map("Pair", |c: BidderCount| KV::new(c.bidder, c.bid_count))
                .apply("Gather", WindowInto::with_defaults(GlobalWindows))
                .apply("Total", Combine::per_key(Sum::<u64>::new()));
            assert_that(&totals).contains_in_any_order(expected.clone())
        });
    }
}
