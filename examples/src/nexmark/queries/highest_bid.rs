//! Query 7, highest bid: in each 10 s window, the bids with the highest price.
//!
//! Flink's SQL joins the bids with the maximum price of their `TUMBLE(dateTime, INTERVAL '10'
//! SECOND)`; here one combine per window keeps the highest price and the bids that bid it.

use super::super::model::{Bid, Event};
use super::bids;
use sluice_sdk::prelude::*;

/// The windows of query 7.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Keeps the bids with the highest price.
#[derive(Clone)]
pub struct HighestBids;

impl CombineFn for HighestBids {
    type Input = Bid;
    type Accumulator = Vec<Bid>;
    type Output = Vec<Bid>;
    fn create_accumulator(&self) -> Vec<Bid> {
        Vec::new()
    }
    fn add_input(&self, acc: &mut Vec<Bid>, bid: Bid) {
        self.merge_accumulators(acc, vec![bid]);
    }
    fn merge_accumulators(&self, acc: &mut Vec<Bid>, other: Vec<Bid>) {
        let (Some(mine), Some(theirs)) = (acc.first(), other.first()) else {
            acc.extend(other);
            return;
        };
        if theirs.price > mine.price {
            *acc = other;
        } else if theirs.price == mine.price {
            acc.extend(other);
        }
    }
    fn extract_output(&self, acc: &Vec<Bid>) -> Vec<Bid> {
        acc.clone()
    }
}

/// Query 7: per fixed window, the bids with the highest price.
pub fn q7(events: &PCollection<Event>) -> PCollection<Bid> {
    bids(events)
        .apply("Window", WindowInto::new(FixedWindows::of(WINDOW)))
        .apply("Highest", Combine::globally(HighestBids).without_defaults())
        .flat_map("Each", |bids: Vec<Bid>| bids)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{config, generated, on_every_runner};
    use super::*;
    use sluice_sdk::testing::assert_that;
    use std::collections::BTreeMap;

    #[test]
    fn q7_keeps_the_highest_bids_of_each_window() {
        let size = WINDOW.as_millis();
        let mut per_window: BTreeMap<i64, Vec<Bid>> = BTreeMap::new();
        for e in generated(&config()) {
            if let Event::Bid(b) = e {
                per_window
                    .entry(b.date_time.div_euclid(size))
                    .or_default()
                    .push(b);
            }
        }
        let expected: Vec<Bid> = per_window
            .into_values()
            .flat_map(|bids| {
                let top = bids.iter().map(|b| b.price).max().unwrap_or(0);
                bids.into_iter().filter(move |b| b.price == top)
            })
            .collect();
        assert!(expected.len() >= 4, "{expected:?}");
        on_every_runner(|events| assert_that(&q7(events)).contains_in_any_order(expected.clone()));
    }
}
