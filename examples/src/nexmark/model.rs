//! The Nexmark events: people, auctions and bids, as Beam's Nexmark suite models them.
//!
//! An online auction: people register, some put items up for auction, and people bid on
//! them. Times are event times in milliseconds since the epoch. As JSON (one event a line,
//! what `--dump-events` writes) an event is the object Flink's Nexmark suite reads,
//! `{"event_type": 0|1|2, "person": …, "auction": …, "bid": …}` with the two other members
//! null, fields in camelCase and times as `yyyy-MM-dd HH:mm:ss.SSS` (UTC).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A person registers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// The person's id.
    pub id: u64,
    /// First and last name.
    pub name: String,
    /// E-mail address.
    pub email_address: String,
    /// Credit card number, four groups of four digits.
    pub credit_card: String,
    /// City.
    pub city: String,
    /// US state.
    pub state: String,
    /// When the person registered (ms).
    #[serde(with = "sql_time")]
    pub date_time: i64,
    /// Padding to the average event size.
    pub extra: String,
}

/// An item goes up for auction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Auction {
    /// The auction's id.
    pub id: u64,
    /// The item's name.
    pub item_name: String,
    /// The item's description.
    pub description: String,
    /// The opening price (cents).
    pub initial_bid: u64,
    /// The lowest price the seller accepts (cents).
    pub reserve: u64,
    /// When the auction opened (ms).
    #[serde(with = "sql_time")]
    pub date_time: i64,
    /// When it closes (ms).
    #[serde(with = "sql_time")]
    pub expires: i64,
    /// The seller, a person's id.
    pub seller: u64,
    /// The item's category.
    pub category: u64,
    /// Padding to the average event size.
    pub extra: String,
}

/// A bid on an auction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bid {
    /// The auction bid on.
    pub auction: u64,
    /// The bidder, a person's id.
    pub bidder: u64,
    /// The price offered (cents).
    pub price: u64,
    /// When the bid was made (ms).
    #[serde(with = "sql_time")]
    pub date_time: i64,
    /// Padding to the average event size.
    pub extra: String,
}

/// One Nexmark event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A person registers.
    Person(Person),
    /// An auction opens.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

impl Event {
    /// When the event happened (ms).
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }
}

/// The JSON form of an event: a type number and one of three members.
#[derive(Deserialize)]
struct JsonEvent {
    event_type: u8,
    person: Option<Person>,
    auction: Option<Auction>,
    bid: Option<Bid>,
}

/// [`JsonEvent`], borrowed, to write.
#[derive(Serialize)]
struct JsonEventRef<'a> {
    event_type: u8,
    person: Option<&'a Person>,
    auction: Option<&'a Auction>,
    bid: Option<&'a Bid>,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (event_type, person, auction, bid) = match self {
            Event::Person(p) => (0, Some(p), None, None),
            Event::Auction(a) => (1, None, Some(a), None),
            Event::Bid(b) => (2, None, None, Some(b)),
        };
        JsonEventRef {
            event_type,
            person,
            auction,
            bid,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let json = JsonEvent::deserialize(deserializer)?;
        match (json.event_type, json.person, json.auction, json.bid) {
            (0, Some(p), None, None) => Ok(Event::Person(p)),
            (1, None, Some(a), None) => Ok(Event::Auction(a)),
            (2, None, None, Some(b)) => Ok(Event::Bid(b)),
            (t, ..) => Err(D::Error::custom(format!(
                "event_type {t} with other members than its own (0: person, 1: auction, 2: bid)"
            ))),
        }
    }
}

/// Times as Flink SQL's `TIMESTAMP(3)` text, `yyyy-MM-dd HH:mm:ss.SSS`, in UTC.
mod sql_time {
    use crate::civil_time::{civil_from_days, days_from_civil};
    use serde::{Deserialize, Deserializer, Serializer};

    /// `ms` as text.
    pub fn format(ms: i64) -> String {
        let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
        let (y, m, d) = civil_from_days(days);
        let (h, min) = (in_day / 3_600_000, in_day / 60_000 % 60);
        let (s, milli) = (in_day / 1000 % 60, in_day % 1000);
        format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}.{milli:03}")
    }

    /// The milliseconds of text in that form; the error says what is wrong.
    pub fn parse(text: &str) -> Result<i64, String> {
        let bad = || format!("bad time '{text}': expected yyyy-MM-dd HH:mm:ss.SSS");
        let (date, time) = text.split_once(' ').ok_or_else(bad)?;
        let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
        let date: Vec<&str> = date.split('-').collect();
        let (hms, milli) = time.split_once('.').unwrap_or((time, "0"));
        let hms: Vec<&str> = hms.split(':').collect();
        if date.len() != 3 || hms.len() != 3 {
            return Err(bad());
        }
        let days = days_from_civil(num(date[0])?, num(date[1])?, num(date[2])?);
        let in_day = (num(hms[0])? * 3600 + num(hms[1])? * 60 + num(hms[2])?) * 1000 + num(milli)?;
        Ok(days * 86_400_000 + in_day)
    }

    pub fn serialize<S: Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn times_print_and_parse_back() {
            assert_eq!(format(0), "1970-01-01 00:00:00.000");
            assert_eq!(format(1_436_918_400_123), "2015-07-15 00:00:00.123");
            assert_eq!(format(951_782_400_000), "2000-02-29 00:00:00.000");
            for ms in [0, 1_436_918_400_123, 951_782_400_000, 4_102_444_799_999, -1] {
                assert_eq!(parse(&format(ms)).unwrap(), ms, "{}", format(ms));
            }
            assert!(parse("2015-07-15").unwrap_err().contains("bad time"));
        }
    }
}
