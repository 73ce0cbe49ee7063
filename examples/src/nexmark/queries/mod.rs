//! Nexmark queries, each a function from the events to its result, as in Beam's and Flink's
//! Nexmark suites. Where the two suites differ, the query follows the SQL of Flink's suite,
//! so that its output can be compared with Flink SQL's row for row (`nexmark_bench`).
//!
//! | query | what it computes | module |
//! |---|---|---|
//! | [`q0`] | pass-through: every event, unchanged (the cost of reading and moving events) | [`selection`] |
//! | [`q1`] | currency conversion: every bid with its price in euros (× 89 / 100) | [`selection`] |
//! | [`q2`] | selection: the auction and price of the bids on every 123rd auction | [`selection`] |
//! | [`q3`] | local item suggestion: sellers in OR, ID or CA and their auctions in category 10 (a stateful join) | [`local_items`] |
//! | [`q4`] | average winning price per category: the highest bid of each auction during it, averaged | [`category_prices`] |
//! | [`q5`] | hot items: the auctions with the most bids in each 10 s window sliding every 2 s | [`hot_items`] |
//! | [`q7`] | highest bid: the bids with the highest price in each 10 s window | [`highest_bid`] |
//! | [`q8`] | new users: people who opened an auction in the 10 s window they registered in (a windowed join) | [`new_users`] |
//! | [`q11`] | user sessions: bids per bidder per session (gap 10 s) | [`sessions`] |
//! | [`q12`] | processing-time windows: bids per bidder every 10 s of processing time | [`sessions`] |
//!
//! [`run`] applies a query by number and turns its result into JSON lines.

pub mod category_prices;
pub mod highest_bid;
pub mod hot_items;
pub mod local_items;
pub mod new_users;
pub mod selection;
pub mod sessions;

pub use category_prices::{CategoryPrice, q4};
pub use highest_bid::q7;
pub use hot_items::{HotItem, q5};
pub use local_items::{LocalItem, q3};
pub use new_users::{NewUser, q8};
pub use selection::{AUCTION_SKIP, AuctionPrice, q0, q1, q2};
pub use sessions::{BidderCount, q11, q12};

use super::model::{Auction, Bid, Event, Person};
use serde::Serialize;
use sluice_sdk::prelude::*;

/// The queries [`run`] knows.
pub const QUERIES: [u32; 10] = [0, 1, 2, 3, 4, 5, 7, 8, 11, 12];

/// The bids among the events.
pub fn bids(events: &PCollection<Event>) -> PCollection<Bid> {
    events.flat_map("Bids", |e: Event| match e {
        Event::Bid(b) => Some(b),
        _ => None,
    })
}

/// The auctions among the events.
pub fn auctions(events: &PCollection<Event>) -> PCollection<Auction> {
    events.flat_map("Auctions", |e: Event| match e {
        Event::Auction(a) => Some(a),
        _ => None,
    })
}

/// The people among the events.
pub fn people(events: &PCollection<Event>) -> PCollection<Person> {
    events.flat_map("People", |e: Event| match e {
        Event::Person(p) => Some(p),
        _ => None,
    })
}

/// Applies query `query` (one of [`QUERIES`]) to `events` under the name `Q{query}`, its
/// results as JSON lines; `None` for a query that is not implemented.
pub fn run(query: u32, events: &PCollection<Event>) -> Option<PCollection<String>> {
    let p = events.pipeline().clone();
    let name = format!("Q{query}");
    p.apply_named(&name, || {
        Some(match query {
            0 => json_lines(&q0(events)),
            1 => json_lines(&q1(events)),
            2 => json_lines(&q2(events)),
            3 => json_lines(&q3(events)),
            4 => json_lines(&q4(events)),
            5 => json_lines(&q5(events)),
            7 => json_lines(&q7(events)),
            8 => json_lines(&q8(events)),
            11 => json_lines(&q11(events)),
            12 => json_lines(&q12(events, Duration::from_secs(10))),
            _ => return None,
        })
    })
}

/// Each element as a JSON line.
fn json_lines<T: Element + Serialize>(results: &PCollection<T>) -> PCollection<String> {
    results.map("ToJson", |r: T| {
        serde_json::to_string(&r).expect("query results serialize")
    })
}

/// The start and end of an interval window, in milliseconds.
fn window_millis(window: &Window) -> (i64, i64) {
    match window.as_interval() {
        Some(w) => (w.start.as_millis(), w.end.as_millis()),
        None => (i64::MIN, i64::MAX),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! What the query tests share: generated events, and running a query on every runner.
    use super::super::{GeneratorConfig, NexmarkSource};
    use super::*;
    use sluice_runners::{PipelineOptions, run};

    /// A small stream: 20 000 events over 40 s, out of order by groups of 50.
    pub(crate) fn config() -> GeneratorConfig {
        GeneratorConfig {
            events: 20_000,
            events_per_second: 500,
            out_of_order_group: 50,
            ..Default::default()
        }
    }

    /// The events of `config`, straight from the generator.
    pub(crate) fn generated(config: &GeneratorConfig) -> Vec<Event> {
        (0..config.events).map(|n| config.event(n).0).collect()
    }

    /// Runs `build` over the generated events on each runner.
    pub(crate) fn on_every_runner(build: impl Fn(&PCollection<Event>)) {
        for runner in sluice_runners::runner_names() {
            let p = Pipeline::new();
            let events = p.apply("Events", Read::from(NexmarkSource::new(config())));
            build(&events);
            let result = run(&p, &PipelineOptions::for_runner(runner))
                .unwrap_or_else(|e| panic!("{runner}: {e}"));
            assert_eq!(result.assertions_passed(), 1, "{runner}");
        }
    }
}
