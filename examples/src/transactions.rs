//! Generated transactions for `fraud_detection`: out of order, with malformed lines, from a
//! seed (the same seed gives the same lines).

use crate::fraud_detection::Transaction;

/// What [`generate`] produced.
pub struct GeneratedTransactions {
    /// The input lines, in arrival order.
    pub lines: Vec<String>,
    /// The well-formed transactions among them.
    pub transactions: Vec<Transaction>,
    /// How many lines are malformed.
    pub malformed: usize,
}

/// `count` lines of transactions over `accounts` accounts, about 10 ms of event time apart and
/// out of order by up to `max_disorder_ms`; one line in 500 is malformed. About 15 % of the
/// amounts are small (under 100 cents) and 10 % large (over 50 000 cents).
pub fn generate(
    count: usize,
    accounts: u64,
    max_disorder_ms: u64,
    seed: u64,
) -> GeneratedTransactions {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 11
    };
    let mut out = GeneratedTransactions {
        lines: Vec::with_capacity(count),
        transactions: Vec::with_capacity(count),
        malformed: 0,
    };
    for i in 0..count as i64 {
        let jitter = (next() % (max_disorder_ms + 1)) as i64;
        let timestamp_ms = 1_700_000_000_000 + i * 10 - jitter;
        let account = format!("acct-{}", next() % accounts.max(1));
        let kind = next() % 100;
        let amount_cents = (match kind {
            0..15 => next() % 100,
            15..25 => 50_001 + next() % 450_000,
            _ => 100 + next() % 49_901,
        }) as i64;
        let line = format!("{timestamp_ms},{account},{amount_cents}");
        if i % 500 == 250 {
            out.malformed += 1;
            out.lines.push(match (i / 500) % 4 {
                0 => line.replace(',', ";"),
                1 => format!("{timestamp_ms},{account},{amount_cents}.5"),
                2 => format!("{timestamp_ms},{account},-{amount_cents}"),
                _ => format!("{timestamp_ms},{account}"),
            });
            continue;
        }
        out.lines.push(line);
        out.transactions.push(Transaction {
            timestamp_ms,
            account,
            amount_cents,
        });
    }
    out
}
