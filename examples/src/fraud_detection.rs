//! Fraud detection: a small transaction followed by a large one on the same account.
//!
//! Transactions are lines `timestamp_ms,account_id,amount_cents`. Per account, taking its
//! transactions in event-time order (equal timestamps in increasing amount): when a
//! transaction of less than 100 cents is followed by the account's next transaction, and that
//! one is more than 50 000 cents and at most 60 s later, the job writes the alert
//! `account_id,small_timestamp_ms,large_timestamp_ms,large_amount_cents`. The transaction
//! after a small one always consumes the flag, alert or not; a new small one sets it again.
//! Malformed lines go to the dead-letter output and are counted (`malformed_lines`).
//!
//! Input may arrive out of order (from a Kafka topic, up to the watermark's allowed delay).
//! The rule is a [stateful DoFn](sluice_sdk::stateful) that requires time-sorted input: the
//! runner hands it each account's transactions in event-time order. Those of one timestamp
//! wait together until the watermark passes it (an event-time timer), then go against a
//! one-value flag in increasing amount. The same job runs on files (bounded: one account at a
//! time, on any runner) and on a topic.

use crate::job_io::{InputOptions, JobOutput, KeyedEvent, build_job, parse_then_stateful};
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;

/// Below this amount (cents) a transaction is small.
pub const SMALL_BELOW_CENTS: i64 = 100;
/// Above this amount (cents) a transaction is large.
pub const LARGE_ABOVE_CENTS: i64 = 50_000;
/// How long after a small transaction a large one raises an alert.
pub const WITHIN: Duration = Duration::from_secs(60);

/// A parsed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Event time, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The account.
    pub account: String,
    /// The amount, in cents (not negative).
    pub amount_cents: i64,
}

/// Parses `timestamp_ms,account_id,amount_cents`; the error says what is wrong.
pub fn parse_transaction(line: &str) -> Result<Transaction, String> {
    let [ts, account, amount] =
        crate::job_io::csv_fields::<3>(line, "timestamp_ms,account_id,amount_cents")?;
    let timestamp_ms = crate::job_io::parse_timestamp_ms(ts)?;
    let amount_cents = amount
        .trim()
        .parse::<i64>()
        .map_err(|e| format!("bad amount_cents '{amount}': {e}"))?;
    if amount_cents < 0 {
        return Err(format!("negative amount_cents {amount_cents}"));
    }
    let account = account.trim();
    if account.is_empty() {
        return Err("empty account_id".into());
    }
    Ok(Transaction {
        timestamp_ms,
        account: account.to_string(),
        amount_cents,
    })
}

/// A transaction as the rule takes it: (time, account, amount).
fn keyed_transaction(line: &str) -> Result<KeyedEvent<i64>, String> {
    parse_transaction(line).map(|t| (t.timestamp_ms, t.account, t.amount_cents))
}

/// The rule, per account: see the [module documentation](self).
#[derive(Clone)]
pub struct SmallThenLarge;

/// The state of one account.
pub struct AccountState {
    /// The amounts of the transactions at the latest timestamp, not taken yet.
    tied: BagState<i64>,
    /// Takes them once the watermark passes their timestamp.
    take: Timer,
    /// The time (ms) of the small transaction the next one follows, if the last was small.
    small_at: ValueState<i64>,
}

impl StatefulDoFn for SmallThenLarge {
    type Key = String;
    type Value = i64;
    type Out = String;
    type State = AccountState;

    // Each account's transactions in event-time order, and no more than one account's in
    // memory on bounded input.
    fn requires_time_sorted_input(&self) -> bool {
        true
    }

    fn declare(&self, d: &mut Declarations) -> AccountState {
        AccountState {
            tied: d.bag("tied"),
            take: d.event_timer("take", Self::take),
            small_at: d.value("small_at"),
        }
    }

    fn process(&mut self, amount: i64, st: &AccountState, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        let now = ctx.timestamp();
        let tied = ctx.state(&st.tied);
        let first = tied.is_empty();
        tied.add(amount);
        if first {
            ctx.timer(&st.take).set(now);
        }
        Ok(())
    }
}

impl SmallThenLarge {
    /// The transactions of one timestamp, in increasing amount, against the flag.
    fn take(
        &mut self,
        timer: &FiredTimer,
        st: &AccountState,
        ctx: &mut Ctx<'_, Self>,
    ) -> DoFnResult {
        let mut amounts = ctx.state(&st.tied).take();
        amounts.sort_unstable();
        let at_ms = timer.time.as_millis();
        for amount in amounts {
            if let Some(small_ms) = ctx.state(&st.small_at).take()
                && amount > LARGE_ABOVE_CENTS
                && at_ms - small_ms <= WITHIN.as_millis()
            {
                ctx.metrics().counter("alerts").inc();
                let account = ctx.key();
                ctx.output(format!("{account},{small_ms},{at_ms},{amount}"));
            }
            if amount < SMALL_BELOW_CENTS {
                ctx.state(&st.small_at).write(at_ms);
            }
        }
        Ok(())
    }
}

/// The job's transforms, from lines to alert lines and dead letters.
pub fn compute(lines: &PCollection<String>) -> JobOutput {
    parse_then_stateful(
        lines,
        "ParseTransactions",
        keyed_transaction,
        "SmallThenLarge",
        SmallThenLarge,
    )
}

/// Builds the whole job: read `input` (a file pattern or `kafka://HOST:PORT/TOPIC`), write the
/// alerts to `output` (a file prefix or `kafka://HOST:PORT/TOPIC`, keyed by account) with the
/// dead letters beside them (see [`crate::job_io`]).
pub fn build(p: &Pipeline, input: &str, output: &str, reading: &InputOptions) {
    build_job(p, input, output, reading, 0, compute);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_transactions_or_says_why() {
        assert_eq!(
            parse_transaction("1000,acct-1,99").unwrap(),
            Transaction {
                timestamp_ms: 1000,
                account: "acct-1".into(),
                amount_cents: 99
            }
        );
        for (line, reason) in [
            ("1000,acct-1", "3 comma-separated fields"),
            ("x,acct-1,5", "bad timestamp_ms 'x'"),
            ("1,acct-1,5.5", "bad amount_cents '5.5'"),
            ("1,acct-1,-5", "negative amount_cents"),
            ("1, ,5", "empty account_id"),
        ] {
            assert!(
                parse_transaction(line).unwrap_err().contains(reason),
                "{line}"
            );
        }
    }
}
