//! Queries 0, 1 and 2: element-wise, no state — the cost of reading, moving and filtering
//! events.

use super::super::model::{Bid, Event};
use super::bids;
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;

/// Query 2 keeps the bids on auctions whose id is a multiple of this (Beam's `auctionSkip`).
pub const AUCTION_SKIP: u64 = 123;

/// Query 0: every event, unchanged.
pub fn q0(events: &PCollection<Event>) -> PCollection<Event> {
    events.map("PassThrough", |e: Event| e)
}

/// Query 1: every bid, its price converted from dollars to euros (cents × 89 / 100).
pub fn q1(events: &PCollection<Event>) -> PCollection<Bid> {
    bids(events).map("ToEuros", |b: Bid| Bid {
        price: b.price * 89 / 100,
        ..b
    })
}

/// What query 2 emits: an auction and a price bid on it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuctionPrice {
    /// The auction.
    pub auction: u64,
    /// The price bid (cents).
    pub price: u64,
}

/// Query 2: the auction and price of each bid on an auction whose id is a multiple of
/// [`AUCTION_SKIP`].
pub fn q2(events: &PCollection<Event>) -> PCollection<AuctionPrice> {
    bids(events).flat_map("EveryNthAuction", |b: Bid| {
        b.auction
            .is_multiple_of(AUCTION_SKIP)
            .then_some(AuctionPrice {
                auction: b.auction,
                price: b.price,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{config, generated, on_every_runner};
    use super::*;
    use sluice_sdk::testing::assert_that;

    #[test]
    fn q0_passes_every_event_through() {
        on_every_runner(|events| {
            assert_that(&q0(events)).contains_in_any_order(generated(&config()))
        });
    }

    #[test]
    fn q1_converts_every_price() {
        let expected: Vec<Bid> = generated(&config())
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) => Some(Bid {
                    price: b.price * 89 / 100,
                    ..b
                }),
                _ => None,
            })
            .collect();
        assert!(expected.len() > 18_000);
        on_every_runner(|events| assert_that(&q1(events)).contains_in_any_order(expected.clone()));
    }

    #[test]
    fn q2_keeps_the_bids_on_every_123rd_auction() {
        let expected: Vec<AuctionPrice> = generated(&config())
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) if b.auction.is_multiple_of(123) => Some(AuctionPrice {
                    auction: b.auction,
                    price: b.price,
                }),
                _ => None,
            })
            .collect();
        assert!(!expected.is_empty(), "some bids are on those auctions");
        on_every_runner(|events| assert_that(&q2(events)).contains_in_any_order(expected.clone()));
    }
}
