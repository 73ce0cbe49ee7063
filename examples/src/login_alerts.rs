//! Login alerts, a complex-event pattern: three failed logins of one user within 5 minutes.
//!
//! Input lines are `timestamp_ms,user,outcome` with `outcome` `ok` or `fail`. Per user, in
//! event-time order (equal timestamps: failures first), the pattern is three failures with
//! no success between them, the third at most 5 minutes after the first. A match writes one
//! alert `user,first_failure_ms,third_failure_ms` and consumes its failures: the user is
//! silent until three new failures match again (in Flink SQL terms,
//! `PATTERN (F{3}) WITHIN INTERVAL '5' MINUTE` with `AFTER MATCH SKIP PAST LAST ROW`, F a
//! failure and any success ending the attempt). A failure more than 5 minutes after the
//! oldest one of the attempt pushes that one out. Malformed lines go to the dead-letter output.
//!
//! The state per user is the attempt's failure times. The DoFn requires time-sorted input, so
//! the input may come out of order: the runner hands it each user's logins in event-time
//! order, and those of one timestamp wait together until the watermark passes it.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin login_alerts -- \
//!     --input GLOB|kafka://HOST:PORT/TOPIC --output PREFIX|kafka://HOST:PORT/TOPIC [--runner direct|rayon]
//! ```

use crate::job_io::{
    InputOptions, JobOutput, KeyedEvent, build_job, csv_fields, parse_then_stateful,
    parse_timestamp_ms,
};
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;

/// Failures in one attempt that raise an alert.
pub const FAILURES: usize = 3;
/// The longest time from the first to the last failure of a match.
pub const WITHIN: Duration = Duration::from_mins(5);

/// A parsed login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// Event time, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The user.
    pub user: String,
    /// Whether it failed.
    pub failed: bool,
}

/// Parses `timestamp_ms,user,outcome`; the error says what is wrong.
pub fn parse_login(line: &str) -> Result<Login, String> {
    let [ts, user, outcome] = csv_fields::<3>(line, "timestamp_ms,user,outcome")?;
    let timestamp_ms = parse_timestamp_ms(ts)?;
    let failed = match outcome.trim() {
        "fail" => true,
        "ok" => false,
        other => return Err(format!("bad outcome '{other}': expected ok or fail")),
    };
    let user = user.trim();
    if user.is_empty() {
        return Err("empty user".into());
    }
    Ok(Login {
        timestamp_ms,
        user: user.to_string(),
        failed,
    })
}

/// A login as the pattern takes it: (time, user, failed).
fn keyed_login(line: &str) -> Result<KeyedEvent<bool>, String> {
    parse_login(line).map(|l| (l.timestamp_ms, l.user, l.failed))
}

/// The pattern, per user: see the [module documentation](self).
#[derive(Clone)]
pub struct RepeatedFailures;

/// The state of one user.
pub struct UserState {
    /// The outcomes (failed or not) of the logins at the latest timestamp, not taken yet.
    tied: BagState<bool>,
    /// Takes them once the watermark passes their timestamp.
    take: Timer,
    /// The failure times (ms) of the current attempt.
    failures: ValueState<Vec<i64>>,
}

impl StatefulDoFn for RepeatedFailures {
    type Key = String;
    type Value = bool;
    type Out = String;
    type State = UserState;

    // Each user's logins in event-time order, and no more than one user's in memory on
    // bounded input.
    fn requires_time_sorted_input(&self) -> bool {
        true
    }

    fn declare(&self, d: &mut Declarations) -> UserState {
        UserState {
            tied: d.bag("tied"),
            take: d.event_timer("take", Self::take),
            failures: d.value("failures"),
        }
    }

    fn process(&mut self, failed: bool, st: &UserState, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        let now = ctx.timestamp();
        let tied = ctx.state(&st.tied);
        let first = tied.is_empty();
        tied.add(failed);
        if first {
            ctx.timer(&st.take).set(now);
        }
        Ok(())
    }
}

impl RepeatedFailures {
    /// The logins of one timestamp, failures first, against the attempt.
    fn take(&mut self, timer: &FiredTimer, st: &UserState, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        let mut outcomes = ctx.state(&st.tied).take();
        // Equal timestamps: failures first (`true` sorts last, so reverse it).
        outcomes.sort_by_key(|failed| !failed);
        let at = timer.time.as_millis();
        let mut failures = ctx.state(&st.failures).take().unwrap_or_default();
        for failed in outcomes {
            if !failed {
                failures.clear();
                continue;
            }
            failures.retain(|first| at - first <= WITHIN.as_millis());
            failures.push(at);
            if failures.len() == FAILURES {
                ctx.metrics().counter("alerts").inc();
                ctx.output(format!("{},{},{at}", ctx.key(), failures[0]));
                failures.clear();
            }
        }
        if !failures.is_empty() {
            ctx.state(&st.failures).write(failures);
        }
        Ok(())
    }
}

/// The job's transforms, from lines to alert lines and dead letters.
pub fn compute(lines: &PCollection<String>) -> JobOutput {
    parse_then_stateful(
        lines,
        "ParseLogins",
        keyed_login,
        "RepeatedFailures",
        RepeatedFailures,
    )
}

/// Builds the whole job (inputs and outputs as in [`crate::job_io`]).
pub fn build(p: &Pipeline, input: &str, output: &str, reading: &InputOptions) {
    build_job(p, input, output, reading, 0, compute);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_logins_or_says_why() {
        assert_eq!(
            parse_login("5,ann,fail").unwrap(),
            Login {
                timestamp_ms: 5,
                user: "ann".into(),
                failed: true
            }
        );
        assert!(
            parse_login("5,ann,maybe")
                .unwrap_err()
                .contains("bad outcome")
        );
        assert!(
            parse_login("5,ann")
                .unwrap_err()
                .contains("3 comma-separated")
        );
    }
}
