//! Query 3, local item suggestion: who is selling in category 10 in Oregon, Idaho or
//! California — a join of people and auctions on the seller, kept as per-key state.
//!
//! Flink's SQL: `SELECT P.name, P.city, P.state, A.id FROM auction A JOIN person P ON
//! A.seller = P.id WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA')`. As in Beam's
//! Query3, the join is a stateful DoFn keyed by the person's id: a person is remembered, and an
//! auction of a seller not seen yet waits in state until the seller registers; each match is
//! emitted once, whichever comes first.

use super::super::model::{Auction, Event, Person};
use super::{auctions, people};
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;

/// The states whose sellers query 3 reports.
pub const STATES: [&str; 3] = ["OR", "ID", "CA"];

/// The category of the auctions query 3 reports.
pub const CATEGORY: u64 = 10;

/// What query 3 emits: a seller and one of their auctions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LocalItem {
    /// The seller's name.
    pub name: String,
    /// The seller's city.
    pub city: String,
    /// The seller's state.
    pub state: String,
    /// The auction.
    pub id: u64,
}

/// One side of the join.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Side {
    Seller(Person),
    Auction(u64),
}

/// A seller's state in the join: the seller once known, else the auctions waiting for them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Seller {
    person: Option<Person>,
    waiting: Vec<u64>,
}

fn item(person: &Person, auction: u64) -> LocalItem {
    LocalItem {
        name: person.name.clone(),
        city: person.city.clone(),
        state: person.state.clone(),
        id: auction,
    }
}

/// Query 3: each auction in category [`CATEGORY`] of a seller living in one of [`STATES`].
pub fn q3(events: &PCollection<Event>) -> PCollection<LocalItem> {
    let sellers = people(events).flat_map("LocalSellers", |p: Person| {
        STATES
            .contains(&p.state.as_str())
            .then(|| KV::new(p.id, Side::Seller(p)))
    });
    let items = auctions(events).flat_map("InCategory", |a: Auction| {
        (a.category == CATEGORY).then_some(KV::new(a.seller, Side::Auction(a.id)))
    });
    PCollectionList::of(vec![sellers, items])
        .apply("BothSides", Flatten)
        .apply(
            "Join",
            ParDo::stateful_map(|seller: &mut Seller, _id: &u64, side: Side| match side {
                Side::Seller(person) => {
                    let matched: Vec<LocalItem> =
                        seller.waiting.drain(..).map(|a| item(&person, a)).collect();
                    seller.person = Some(person);
                    matched
                }
                Side::Auction(auction) => match &seller.person {
                    Some(person) => vec![item(person, auction)],
                    None => {
                        seller.waiting.push(auction);
                        Vec::new()
                    }
                },
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{config, generated, on_every_runner};
    use super::*;
    use sluice_sdk::testing::assert_that;
    use std::collections::HashMap;

    #[test]
    fn q3_joins_local_sellers_with_their_auctions_in_category_10() {
        let events = generated(&config());
        let sellers: HashMap<u64, &Person> = events
            .iter()
            .filter_map(|e| match e {
                Event::Person(p) if STATES.contains(&p.state.as_str()) => Some((p.id, p)),
                _ => None,
            })
            .collect();
        let expected: Vec<LocalItem> = events
            .iter()
            .filter_map(|e| match e {
                Event::Auction(a) if a.category == CATEGORY => {
                    sellers.get(&a.seller).map(|p| item(p, a.id))
                }
                _ => None,
            })
            .collect();
        assert!(expected.len() > 10, "{} matches", expected.len());
        on_every_runner(|events| assert_that(&q3(events)).contains_in_any_order(expected.clone()));
    }
}
