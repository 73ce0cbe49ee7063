//! Query 8, monitor new users: the people who opened an auction within the 10 s window in
//! which they registered — a join of people and auctions per fixed window.
//!
//! Flink's SQL joins the people of each `TUMBLE(dateTime, INTERVAL '10' SECOND)` with the
//! sellers of the same window; here a CoGroupByKey per window on the person's id.

use super::super::model::{Auction, Event, Person};
use super::{auctions, people, window_millis};
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;

/// The windows of query 8.
pub const WINDOW: Duration = Duration::from_secs(10);

/// What query 8 emits: a person who sold in the window they registered in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NewUser {
    /// The person.
    pub id: u64,
    /// Their name.
    pub name: String,
    /// The window's start (ms since the epoch).
    pub starttime: i64,
}

/// Query 8: per fixed window, the people who registered and opened an auction in it.
pub fn q8(events: &PCollection<Event>) -> PCollection<NewUser> {
    let window = || WindowInto::new(FixedWindows::of(WINDOW));
    let registered = people(events)
        .apply("PeopleWindow", window())
        .map("ById", |p: Person| KV::new(p.id, p.name));
    let selling = auctions(events)
        .apply("AuctionsWindow", window())
        .map("BySeller", |a: Auction| KV::new(a.seller, ()));
    let (name_tag, sold_tag) = (TupleTag::<String>::new("name"), TupleTag::<()>::new("sold"));
    KeyedPCollectionTuple::of(&name_tag, &registered)
        .and(&sold_tag, &selling)
        .apply("Join", CoGroupByKey)
        .apply(
            "NewUsers",
            MapWithContext::new(move |kv: KV<u64, CoGbkResult>, m: &ElementMeta| {
                if kv.value.get_all(&sold_tag).is_empty() {
                    return Vec::new();
                }
                let (starttime, _) = window_millis(&m.window);
                kv.value
                    .get_all(&name_tag)
                    .iter()
                    .map(|name| NewUser {
                        id: kv.key,
                        name: name.clone(),
                        starttime,
                    })
                    .collect::<Vec<_>>()
            }),
        )
        .flat_map("Each", |users: Vec<NewUser>| users)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{config, generated, on_every_runner};
    use super::*;
    use sluice_sdk::testing::assert_that;
    use std::collections::BTreeSet;

    #[test]
    fn q8_finds_people_selling_in_the_window_they_registered_in() {
        let size = WINDOW.as_millis();
        let start = |t: i64| t.div_euclid(size) * size;
        let events = generated(&config());
        let sold: BTreeSet<(u64, i64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Auction(a) => Some((a.seller, start(a.date_time))),
                _ => None,
            })
            .collect();
        let expected: Vec<NewUser> = events
            .iter()
            .filter_map(|e| match e {
                Event::Person(p) if sold.contains(&(p.id, start(p.date_time))) => Some(NewUser {
                    id: p.id,
                    name: p.name.clone(),
                    starttime: start(p.date_time),
                }),
                _ => None,
            })
            .collect();
        assert!(expected.len() > 5, "{} new users", expected.len());
        on_every_runner(|events| assert_that(&q8(events)).contains_in_any_order(expected.clone()));
    }
}
