//! The Nexmark event generator, after the event model of Beam's Nexmark suite.
//!
//! Events are numbered from 0. Event `n` happens at `base + n / rate` in event time; with an
//! out-of-order group size `g`, numbers are shuffled within each group of `g` (so timestamps
//! go back by less than a group's span: bounded out-of-orderness), and the watermark after an
//! event is the time of its group's first number. What an event is, and its contents, depend
//! only on its (shuffled) number and the seed: any split of the numbers generates the same
//! events.
//!
//! As in Beam: of every 50 numbers, 1 is a new person, 3 are new auctions and 46 are bids.
//! Ids start at 1000 (people, auctions) and categories at 10 (5 of them). Auctions go to a
//! "hot" seller (the first of the last hundred people) unless a 1-in-`hot_sellers_ratio`
//! draw says otherwise, and bids to a hot auction and by a hot bidder likewise; the others
//! pick among the 1 000 most recent people and the 100 most recent auctions (plus a few ids
//! not created yet). Prices are `10^(6u)` cents for `u` uniform in `[0, 1)`, and each event
//! is padded (`extra`) to an average size (people 200 bytes, auctions 500, bids 100). Beam
//! draws from Java's `Random`; this generator from its own seeded generator, so the
//! proportions and distributions are Beam's and the values are not.

use super::model::{Auction, Bid, Event, Person};

/// Numbers in each cycle of events, and how many of them are people and auctions.
const PROPORTION_DENOMINATOR: u64 = 50;
const PERSON_PROPORTION: u64 = 1;
const AUCTION_PROPORTION: u64 = 3;
/// The first ids.
const FIRST_PERSON_ID: u64 = 1000;
const FIRST_AUCTION_ID: u64 = 1000;
const FIRST_CATEGORY_ID: u64 = 10;
const NUM_CATEGORIES: u64 = 5;
/// Ids not created yet that a random choice may pick.
const ID_LEAD: u64 = 10;
/// Hot sellers, bidders and auctions are the first of each batch of this many.
const HOT_BATCH: u64 = 100;

const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// What to generate: how many events, how fast in event time, how out of order, and Beam's
/// model parameters (their defaults are Beam's).
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Seeds every event's contents.
    pub seed: u64,
    /// How many events.
    pub events: u64,
    /// Events per second of event time (at most 1 000 000).
    pub events_per_second: u64,
    /// The time of event 0 (ms since the epoch).
    pub base_time_ms: i64,
    /// Events are shuffled within groups of this many (1: in order; not a multiple of 953).
    pub out_of_order_group: u64,
    /// People a random choice picks among (the most recent).
    pub active_people: u64,
    /// Auctions a random choice picks among (the most recent).
    pub in_flight_auctions: u64,
    /// One bid in this many goes to a random auction, the others to a hot one.
    pub hot_auction_ratio: u64,
    /// One auction in this many has a random seller, the others a hot one.
    pub hot_sellers_ratio: u64,
    /// One bid in this many is by a random bidder, the others by a hot one.
    pub hot_bidders_ratio: u64,
    /// Average sizes the events are padded to (bytes): person, auction, bid.
    pub average_sizes: (usize, usize, usize),
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 0,
            events: 100_000,
            events_per_second: 10_000,
            // 2015-07-15 00:00:00 UTC, Beam's base time.
            base_time_ms: 1_436_918_400_000,
            out_of_order_group: 1,
            active_people: 1000,
            in_flight_auctions: 100,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            average_sizes: (200, 500, 100),
        }
    }
}

impl GeneratorConfig {
    /// Microseconds between two event numbers.
    fn delay_us(&self) -> u64 {
        (1_000_000 / self.events_per_second.clamp(1, 1_000_000)).max(1)
    }

    /// The time (ms) of event number `number`.
    pub fn timestamp_of(&self, number: u64) -> i64 {
        self.base_time_ms + (u128::from(number) * u128::from(self.delay_us()) / 1000) as i64
    }

    /// The number event `n` takes once shuffled within its group.
    pub fn shuffled(&self, n: u64) -> u64 {
        let g = self.out_of_order_group.max(1);
        n / g * g + n.wrapping_mul(953) % g
    }

    /// The watermark once event `n` was emitted: no later event is earlier than this.
    pub fn watermark_after(&self, n: u64) -> i64 {
        let g = self.out_of_order_group.max(1);
        self.timestamp_of(n / g * g)
    }

    /// Event `n`, with its timestamp (ms).
    pub fn event(&self, n: u64) -> (Event, i64) {
        let id = self.shuffled(n);
        let at = self.timestamp_of(id);
        let mut rng = EventRng::new(self.seed, id);
        let kind = id % PROPORTION_DENOMINATOR;
        let event = if kind < PERSON_PROPORTION {
            Event::Person(self.person(id, at, &mut rng))
        } else if kind < PERSON_PROPORTION + AUCTION_PROPORTION {
            Event::Auction(self.auction(id, at, &mut rng))
        } else {
            Event::Bid(self.bid(id, at, &mut rng))
        };
        (event, at)
    }

    fn person(&self, id: u64, at: i64, rng: &mut EventRng) -> Person {
        let name = format!("{} {}", rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
        let email_address = format!("{}@{}.com", rng.string(7), rng.string(5));
        let credit_card = (0..4)
            .map(|_| format!("{:04}", rng.below(10_000)))
            .collect::<Vec<_>>()
            .join(" ");
        let city = rng.pick(&US_CITIES).to_string();
        let state = rng.pick(&US_STATES).to_string();
        let size =
            8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
        Person {
            id: last_person(id) + FIRST_PERSON_ID,
            extra: rng.extra(size, self.average_sizes.0),
            name,
            email_address,
            credit_card,
            city,
            state,
            date_time: at,
        }
    }

    fn auction(&self, id: u64, at: i64, rng: &mut EventRng) -> Auction {
        let seller = if rng.below(self.hot_sellers_ratio.max(1)) > 0 {
            last_person(id) / HOT_BATCH * HOT_BATCH
        } else {
            self.random_person(id, rng)
        };
        let category = FIRST_CATEGORY_ID + rng.below(NUM_CATEGORIES);
        let initial_bid = rng.price();
        let expires = at + self.auction_length_ms(id, at, rng);
        let item_name = rng.string(20);
        let description = rng.string(100);
        let reserve = initial_bid + rng.price();
        let size = 8 + item_name.len() + description.len() + 40;
        Auction {
            id: last_auction(id).unwrap_or(0) + FIRST_AUCTION_ID,
            extra: rng.extra(size, self.average_sizes.1),
            item_name,
            description,
            initial_bid,
            reserve,
            date_time: at,
            expires,
            seller: seller + FIRST_PERSON_ID,
            category,
        }
    }

    fn bid(&self, id: u64, at: i64, rng: &mut EventRng) -> Bid {
        let auction = if rng.below(self.hot_auction_ratio.max(1)) > 0 {
            last_auction(id).unwrap_or(0) / HOT_BATCH * HOT_BATCH
        } else {
            self.random_auction(id, rng)
        };
        let bidder = if rng.below(self.hot_bidders_ratio.max(1)) > 0 {
            // The second of the batch, so that hot bidders are not hot sellers.
            last_person(id) / HOT_BATCH * HOT_BATCH + 1
        } else {
            self.random_person(id, rng)
        };
        let price = rng.price();
        Bid {
            auction: auction + FIRST_AUCTION_ID,
            bidder: bidder + FIRST_PERSON_ID,
            price,
            date_time: at,
            extra: rng.extra(32, self.average_sizes.2),
        }
    }

    /// A random person (base 0) among the active ones, or a few not created yet.
    fn random_person(&self, id: u64, rng: &mut EventRng) -> u64 {
        let people = last_person(id) + 1;
        let active = people.min(self.active_people.max(1));
        people - active + rng.below(active + ID_LEAD)
    }

    /// A random auction (base 0) among those likely in flight, or a few not created yet.
    fn random_auction(&self, id: u64, rng: &mut EventRng) -> u64 {
        let newest = last_auction(id).unwrap_or(0);
        let oldest = newest.saturating_sub(self.in_flight_auctions);
        oldest + rng.below(newest - oldest + 1 + ID_LEAD)
    }

    /// How long an auction opened at `at` by event `id` lasts: on average, until the auction
    /// `in_flight_auctions` later opens.
    fn auction_length_ms(&self, id: u64, at: i64, rng: &mut EventRng) -> i64 {
        let ahead = self.in_flight_auctions * PROPORTION_DENOMINATOR / AUCTION_PROPORTION;
        let horizon = self.timestamp_of(id + ahead) - at;
        1 + rng.below((horizon * 2).max(1) as u64) as i64
    }
}

/// The newest person (base 0) at event `id`: the current one if it is a person. A cycle
/// begins with its one person.
fn last_person(id: u64) -> u64 {
    const { assert!(PERSON_PROPORTION == 1) };
    id / PROPORTION_DENOMINATOR
}

/// The newest auction (base 0) at event `id`: the current one if it is an auction; none
/// before the first.
fn last_auction(id: u64) -> Option<u64> {
    let (cycle, offset) = (id / PROPORTION_DENOMINATOR, id % PROPORTION_DENOMINATOR);
    if offset < PERSON_PROPORTION {
        // A person: the last auction of the cycle before.
        (cycle * AUCTION_PROPORTION).checked_sub(1)
    } else {
        let offset = (offset - PERSON_PROPORTION).min(AUCTION_PROPORTION - 1);
        Some(cycle * AUCTION_PROPORTION + offset)
    }
}

/// The random numbers of one event: seeded by the generator's seed and the event's number.
struct EventRng(u64);

impl EventRng {
    fn new(seed: u64, id: u64) -> Self {
        let mut rng = EventRng(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next();
        rng
    }

    /// SplitMix64.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }

    /// A price in cents: `10^(6u)` dollars' hundredths.
    fn price(&mut self) -> u64 {
        (10f64.powf(self.unit() * 6.0) * 100.0).round() as u64
    }

    /// Lowercase letters and a few spaces, 3 to `max` long before trimming.
    fn string(&mut self, max: u64) -> String {
        let len = 3 + self.below(max - 3);
        let s: String = (0..len)
            .map(|_| {
                if self.below(13) == 0 {
                    ' '
                } else {
                    (b'a' + self.below(26) as u8) as char
                }
            })
            .collect();
        s.trim().to_string()
    }

    /// Letters that pad an event of `size` bytes to `average` on average (±20 %).
    fn extra(&mut self, size: usize, average: usize) -> String {
        if size > average {
            return String::new();
        }
        let wanted = average - size;
        let delta = (wanted as f64 * 0.2).round() as u64;
        let len = wanted as u64 - delta + if delta == 0 { 0 } else { self.below(2 * delta) };
        (0..len)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(config: &GeneratorConfig) -> Vec<(Event, i64)> {
        (0..config.events).map(|n| config.event(n)).collect()
    }

    #[test]
    fn one_person_and_three_auctions_in_every_fifty_events() {
        let config = GeneratorConfig {
            events: 5000,
            ..Default::default()
        };
        let all = events(&config);
        let people = all
            .iter()
            .filter(|(e, _)| matches!(e, Event::Person(_)))
            .count();
        let auctions = all
            .iter()
            .filter(|(e, _)| matches!(e, Event::Auction(_)))
            .count();
        assert_eq!(
            (people, auctions, all.len() - people - auctions),
            (100, 300, 4600)
        );
        // Ids count up from 1000 in the order of creation.
        let ids: Vec<u64> = all
            .iter()
            .filter_map(|(e, _)| match e {
                Event::Person(p) => Some(p.id),
                _ => None,
            })
            .collect();
        assert_eq!(ids, (1000..1100).collect::<Vec<_>>());
        let auction_ids: Vec<u64> = all
            .iter()
            .filter_map(|(e, _)| match e {
                Event::Auction(a) => Some(a.id),
                _ => None,
            })
            .collect();
        assert_eq!(auction_ids, (1000..1300).collect::<Vec<_>>());
    }

    #[test]
    fn bids_go_mostly_to_hot_auctions_and_reference_what_exists() {
        let config = GeneratorConfig {
            events: 20_000,
            ..Default::default()
        };
        let all = events(&config);
        let bids: Vec<&Bid> = all
            .iter()
            .filter_map(|(e, _)| match e {
                Event::Bid(b) => Some(b),
                _ => None,
            })
            .collect();
        let hot = bids
            .iter()
            .filter(|b| (b.auction - 1000) % 100 == 0)
            .count();
        // With a hot-auction ratio of 2, about half go to the hot auction (and a few
        // random picks land on it too).
        let share = hot as f64 / bids.len() as f64;
        assert!((0.45..0.6).contains(&share), "{share}");
        let (max_person, max_auction) = (1000 + 20_000 / 50, 1000 + 3 * 20_000 / 50);
        for b in &bids {
            assert!(b.bidder >= 1000 && b.bidder < max_person + ID_LEAD, "{b:?}");
            assert!(
                b.auction >= 1000 && b.auction < max_auction + ID_LEAD,
                "{b:?}"
            );
            assert!(b.price >= 100 && b.price <= 100_000_000, "{b:?}");
        }
        for (e, _) in &all {
            if let Event::Auction(a) = e {
                assert!(
                    a.expires > a.date_time && a.reserve >= a.initial_bid,
                    "{a:?}"
                );
                assert!((10..15).contains(&a.category), "{a:?}");
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_events_and_another_seed_others() {
        let config = GeneratorConfig {
            events: 300,
            seed: 7,
            ..Default::default()
        };
        assert_eq!(events(&config), events(&config));
        let other = GeneratorConfig {
            seed: 8,
            ..config.clone()
        };
        assert_ne!(events(&config), events(&other));
        // Any event alone is what it is in the sequence.
        assert_eq!(config.event(123), events(&config)[123]);
    }

    #[test]
    fn out_of_order_events_never_go_behind_the_watermark() {
        let config = GeneratorConfig {
            // Whole groups: a last, partial group shuffles into numbers past the end.
            events: 64 * 150,
            events_per_second: 1000,
            out_of_order_group: 64,
            ..Default::default()
        };
        let mut went_back = false;
        let mut latest = i64::MIN;
        for n in 0..config.events {
            let (event, at) = config.event(n);
            assert_eq!(event.date_time(), at);
            if n > 0 {
                assert!(at >= config.watermark_after(n - 1), "event {n} at {at}");
            }
            went_back |= at < latest;
            latest = latest.max(at);
        }
        assert!(went_back, "a group of 64 is shuffled");
        // Every number once: the shuffle is a permutation of each group.
        let mut numbers: Vec<u64> = (0..config.events).map(|n| config.shuffled(n)).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (0..config.events).collect::<Vec<_>>());
    }

    #[test]
    fn events_average_the_sizes_of_the_model_as_json() {
        let config = GeneratorConfig {
            events: 5000,
            ..Default::default()
        };
        let (mut bid_bytes, mut bids) = (0, 0);
        for (e, _) in events(&config) {
            let line = serde_json::to_string(&e).unwrap();
            let back: Event = serde_json::from_str(&line).unwrap();
            assert_eq!(back, e, "{line}");
            if let Event::Bid(b) = e {
                bid_bytes += b.extra.len() + 32;
                bids += 1;
            }
        }
        let average = bid_bytes as f64 / bids as f64;
        assert!((95.0..105.0).contains(&average), "{average}");
    }
}
