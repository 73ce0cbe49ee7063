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
    let mut out = GeneratedTransactions {
        lines: Vec::with_capacity(count),
        transactions: Vec::with_capacity(count),
        malformed: 0,
    };
    for (line, transaction) in TransactionLines::new(count, accounts, max_disorder_ms, seed) {
        out.lines.push(line);
        match transaction {
            Some(t) => out.transactions.push(t),
            None => out.malformed += 1,
        }
    }
    out
}

/// The lines of [`generate`], made one at a time: each with its transaction, or `None` for a
/// malformed line. It keeps nothing of what it made, so a stream of any length costs nothing.
pub struct TransactionLines {
    state: u64,
    i: i64,
    count: i64,
    accounts: u64,
    max_disorder_ms: u64,
}

impl TransactionLines {
    /// The lines [`generate`] makes with the same arguments, in the same order.
    pub fn new(count: usize, accounts: u64, max_disorder_ms: u64, seed: u64) -> Self {
        TransactionLines {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
            i: 0,
            count: count as i64,
            accounts: accounts.max(1),
            max_disorder_ms,
        }
    }

    fn next_random(&mut self) -> u64 {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.state >> 11
    }
}

impl Iterator for TransactionLines {
    type Item = (String, Option<Transaction>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.i >= self.count {
            return None;
        }
        let i = self.i;
        self.i += 1;
        let jitter = (self.next_random() % (self.max_disorder_ms + 1)) as i64;
        let timestamp_ms = 1_700_000_000_000 + i * 10 - jitter;
        let account = format!("acct-{}", self.next_random() % self.accounts);
        let kind = self.next_random() % 100;
        let amount_cents = (match kind {
            0..15 => self.next_random() % 100,
            15..25 => 50_001 + self.next_random() % 450_000,
            _ => 100 + self.next_random() % 49_901,
        }) as i64;
        let line = format!("{timestamp_ms},{account},{amount_cents}");
        if i % 500 == 250 {
            let malformed = match (i / 500) % 4 {
                0 => line.replace(',', ";"),
                1 => format!("{timestamp_ms},{account},{amount_cents}.5"),
                2 => format!("{timestamp_ms},{account},-{amount_cents}"),
                _ => format!("{timestamp_ms},{account}"),
            };
            return Some((malformed, None));
        }
        Some((
            line,
            Some(Transaction {
                timestamp_ms,
                account,
                amount_cents,
            }),
        ))
    }
}
