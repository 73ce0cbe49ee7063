//! Web server access logs: the Common and Combined Log Formats, with an optional request time.
//!
//! ```text
//! 203.0.113.7 - frank [10/Oct/2000:13:55:36 -0700] "GET /a/b?x=1 HTTP/1.1" 200 2326 "http://ref/" "Mozilla/5.0" 0.042
//! ```
//!
//! The client, identity and user; the time in brackets; the request line in quotes; the
//! status; the bytes sent (`-` for none). The Combined format adds the referer and user agent
//! in quotes, and servers commonly append the time taken to serve the request in seconds
//! (nginx's `$request_time`), which is the latency here; without it a request has no latency.
//! A path is aggregated without its query string.

use crate::civil_time::days_from_civil;
use serde::{Deserialize, Serialize};
use sluice_io::text::{LineDecoder, LineError};

/// One request, as a log line tells it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The client's address.
    pub client: String,
    /// When it was served, milliseconds since the epoch.
    pub time_ms: i64,
    /// The method (`GET`...).
    pub method: String,
    /// The path, without its query string.
    pub path: String,
    /// The status code.
    pub status: u16,
    /// Bytes sent.
    pub bytes: u64,
    /// The time taken to serve it, in microseconds, when the line has it.
    pub latency_us: Option<u64>,
}

impl Request {
    /// The status class: 2 for 2xx, 5 for 5xx.
    pub fn class(&self) -> usize {
        usize::from(self.status / 100)
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Milliseconds since the epoch of `10/Oct/2000:13:55:36 -0700`.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let bad = || format!("bad time '{text}': expected dd/Mon/yyyy:HH:mm:ss +zzzz");
    let (stamp, zone) = text.split_once(' ').ok_or_else(bad)?;
    let parts: Vec<&str> = stamp.split(['/', ':']).collect();
    let [day, month, year, h, m, s] = parts[..] else {
        return Err(bad());
    };
    let num = |t: &str| t.parse::<i64>().map_err(|_| bad());
    let month = MONTHS.iter().position(|&n| n == month).ok_or_else(bad)? as i64 + 1;
    let (h, m, s) = (num(h)?, num(m)?, num(s)?);
    let day = num(day)?;
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return Err(bad());
    }
    let (sign, offset) = match zone.as_bytes().first() {
        Some(b'+') => (1, &zone[1..]),
        Some(b'-') => (-1, &zone[1..]),
        _ => return Err(bad()),
    };
    if offset.len() != 4 {
        return Err(bad());
    }
    let offset = sign * (num(&offset[..2])? * 3600 + num(&offset[2..])? * 60);
    let seconds = days_from_civil(num(year)?, month, day) * 86_400 + h * 3600 + m * 60 + s;
    Ok((seconds - offset) * 1000)
}

/// The next token of `rest` up to a space, and what follows it.
fn token(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.trim_start();
    if rest.is_empty() {
        return None;
    }
    Some(rest.split_once(' ').unwrap_or((rest, "")))
}

/// `rest` opening with `open`: what lies up to `close`, and what follows.
fn delimited(rest: &str, open: char, close: char) -> Option<(&str, &str)> {
    let rest = rest.trim_start().strip_prefix(open)?;
    let end = rest.find(close)?;
    Some((&rest[..end], &rest[end + close.len_utf8()..]))
}

/// Parses one access log line; the error says what is wrong.
pub fn parse_line(line: &str) -> Result<Request, String> {
    let missing = |what: &str| format!("no {what}");
    let (client, rest) = token(line).ok_or_else(|| missing("client"))?;
    let (_ident, rest) = token(rest).ok_or_else(|| missing("identity"))?;
    let (_user, rest) = token(rest).ok_or_else(|| missing("user"))?;
    let (time, rest) = delimited(rest, '[', ']').ok_or_else(|| missing("[time]"))?;
    let (request, rest) = delimited(rest, '"', '"').ok_or_else(|| missing("\"request\""))?;
    let (status, rest) = token(rest).ok_or_else(|| missing("status"))?;
    let (bytes, mut rest) = token(rest).ok_or_else(|| missing("bytes"))?;
    let mut words = request.split(' ');
    let (method, target) = match (words.next(), words.next()) {
        (Some(m), Some(t)) if !m.is_empty() && t.starts_with('/') => (m, t),
        _ => {
            return Err(format!(
                "bad request '{request}': expected METHOD /PATH PROTOCOL"
            ));
        }
    };
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    let status: u16 = status
        .parse()
        .ok()
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| format!("bad status '{status}'"))?;
    let bytes = match bytes {
        "-" => 0,
        b => b.parse().map_err(|_| format!("bad byte count '{b}'"))?,
    };
    // Combined: referer and user agent in quotes; then, maybe, the request time.
    for _ in 0..2 {
        if let Some((_, after)) = delimited(rest, '"', '"') {
            rest = after;
        }
    }
    let latency_us = match token(rest) {
        None => None,
        Some((seconds, _)) => {
            let s: f64 = seconds
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| format!("bad request time '{seconds}'"))?;
            Some((s * 1e6).round() as u64)
        }
    };
    Ok(Request {
        client: client.to_string(),
        time_ms: parse_time(time)?,
        method: method.to_string(),
        path: path.to_string(),
        status,
        bytes,
        latency_us,
    })
}

/// Decodes access log lines for a text read, a malformed line becoming a dead letter with
/// its file, line number and what is wrong (see `sluice_io::text::read_decoded`).
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessLogLines;

impl LineDecoder for AccessLogLines {
    type Output = Request;
    fn decode(&self, line: Vec<u8>) -> Result<Request, LineError> {
        let parsed = match std::str::from_utf8(&line) {
            Ok(text) => parse_line(text),
            Err(e) => Err(format!("not UTF-8: {e}")),
        };
        parsed.map_err(|reason| LineError { reason, line })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_combined_line_with_a_request_time_parses() {
        let r = parse_line(
            "203.0.113.7 - frank [10/Oct/2000:13:55:36 -0700] \"GET /a/b?x=1 HTTP/1.1\" 200 2326 \"http://ref/\" \"Mozilla/5.0 (X11)\" 0.042",
        )
        .unwrap();
        assert_eq!(r.client, "203.0.113.7");
        assert_eq!(
            r.time_ms, 971_211_336_000,
            "13:55:36 at -0700 is 20:55:36 UTC"
        );
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/a/b"));
        assert_eq!((r.status, r.bytes, r.class()), (200, 2326, 2));
        assert_eq!(r.latency_us, Some(42_000));
    }

    #[test]
    fn a_common_line_has_no_latency() {
        let r = parse_line("::1 - - [01/Jan/2026:00:00:00 +0000] \"POST /login HTTP/2\" 503 -")
            .unwrap();
        assert_eq!((r.status, r.bytes, r.latency_us), (503, 0, None));
        assert_eq!(r.time_ms, days_from_civil(2026, 1, 1) * 86_400_000);
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let cases = [
            ("", "no client"),
            (
                "1.2.3.4 - - 10/Oct/2000:13:55:36 -0700 \"GET / HTTP/1.1\" 200 1",
                "no [time]",
            ),
            (
                "1.2.3.4 - - [10/Foo/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1",
                "bad time",
            ),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET\" 200 1",
                "bad request",
            ),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 20x 1",
                "bad status",
            ),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\" fast",
                "bad request time",
            ),
        ];
        for (line, reason) in cases {
            let err = parse_line(line).expect_err(line);
            assert!(err.contains(reason), "{line}: {err}");
        }
    }
}
