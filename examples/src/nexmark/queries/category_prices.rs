//! Query 4, average price for a category: the final price of each auction — its highest bid
//! while it was open — averaged per category.
//!
//! Flink's SQL: `SELECT category, AVG(final) FROM (SELECT MAX(B.price) AS final, A.category
//! FROM auction A, bid B WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND
//! A.expires GROUP BY A.id, A.category) GROUP BY category`, over the whole input, the average
//! of integers an integer (truncated), as Flink's `AVG` of a `BIGINT`. (Beam's Query4 also
//! requires the reserve price to be met and averages in sliding windows.) Auctions and bids
//! meet in a CoGroupByKey on the auction's id.

use super::super::model::{Auction, Bid, Event};
use super::{auctions, bids};
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;

/// What query 4 emits: a category and the average final price of its auctions (cents).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CategoryPrice {
    /// The category.
    pub category: u64,
    /// The average of its auctions' final prices, truncated to a whole cent.
    pub average: u64,
}

/// The final price of `auction` given the bids on it: the highest bid between its start and
/// its expiry (both included), if any.
pub fn final_price<'a>(auction: &Auction, bids: impl IntoIterator<Item = &'a Bid>) -> Option<u64> {
    bids.into_iter()
        .filter(|b| (auction.date_time..=auction.expires).contains(&b.date_time))
        .map(|b| b.price)
        .max()
}

/// The integer average of prices, as Flink's `AVG` of a `BIGINT` (truncated).
#[derive(Clone)]
pub struct IntegerMean;

impl CombineFn for IntegerMean {
    type Input = u64;
    type Accumulator = (u128, u64);
    type Output = u64;
    fn create_accumulator(&self) -> (u128, u64) {
        (0, 0)
    }
    fn add_input(&self, acc: &mut (u128, u64), price: u64) {
        acc.0 += u128::from(price);
        acc.1 += 1;
    }
    fn merge_accumulators(&self, acc: &mut (u128, u64), other: (u128, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
    fn extract_output(&self, acc: &(u128, u64)) -> u64 {
        (acc.0 / u128::from(acc.1.max(1))) as u64
    }
}

/// Query 4: the average final price of the auctions of each category.
pub fn q4(events: &PCollection<Event>) -> PCollection<CategoryPrice> {
    let by_id = auctions(events).map("ById", |a: Auction| KV::new(a.id, a));
    let on_auction = bids(events).map("ByAuction", |b: Bid| KV::new(b.auction, b));
    let (auction_tag, bid_tag) = (
        TupleTag::<Auction>::new("auction"),
        TupleTag::<Bid>::new("bids"),
    );
    KeyedPCollectionTuple::of(&auction_tag, &by_id)
        .and(&bid_tag, &on_auction)
        .apply("AuctionBids", CoGroupByKey)
        .flat_map("FinalPrice", move |kv: KV<u64, CoGbkResult>| {
            let bids = kv.value.get_all(&bid_tag);
            kv.value
                .get_all(&auction_tag)
                .iter()
                .filter_map(|a| final_price(a, bids).map(|price| KV::new(a.category, price)))
                .collect::<Vec<_>>()
        })
        .apply("Average", Combine::per_key(IntegerMean))
        .map("Result", |kv: KV<u64, u64>| CategoryPrice {
            category: kv.key,
            average: kv.value,
        })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{config, generated, on_every_runner};
    use super::*;
    use sluice_sdk::testing::assert_that;
    use std::collections::BTreeMap;

    #[test]
    fn q4_averages_the_final_prices_per_category() {
        let events = generated(&config());
        let mut bids_of: BTreeMap<u64, Vec<Bid>> = BTreeMap::new();
        for e in &events {
            if let Event::Bid(b) = e {
                bids_of.entry(b.auction).or_default().push(b.clone());
            }
        }
        let mut per_category: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for e in &events {
            if let Event::Auction(a) = e
                && let Some(price) = final_price(a, bids_of.get(&a.id).into_iter().flatten())
            {
                per_category.entry(a.category).or_default().push(price);
            }
        }
        let expected: Vec<CategoryPrice> = per_category
            .into_iter()
            .map(|(category, prices)| CategoryPrice {
                category,
                average: prices.iter().sum::<u64>() / prices.len() as u64,
            })
            .collect();
        assert!(expected.len() >= 3, "{expected:?}");
        on_every_runner(|events| assert_that(&q4(events)).contains_in_any_order(expected.clone()));
    }
}
