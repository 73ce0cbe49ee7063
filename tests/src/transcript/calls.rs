//! Window functions and triggers as transcripts write them: calls in Python syntax, such as
//! `AfterWatermark(early=AfterCount(2))` or `SlidingWindows(10, 5)`.

use sluice_sdk::prelude::*;
use sluice_sdk::window::check_windows_per_element;
use std::sync::Arc;

/// A call in Python syntax: `Name`, `Name(arg, ...)`, `Name(key=arg, ...)`.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Number(f64),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Call {
    name: String,
    args: Vec<(Option<String>, Arg)>,
}

impl Call {
    /// Parses one call.
    pub(super) fn parse(text: &str) -> Result<Call, String> {
        let mut p = CallParser {
            s: text.as_bytes(),
            i: 0,
        };
        let call = p.call()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!(
                "unexpected text after '{}' in '{text}'",
                &text[..p.i]
            ));
        }
        Ok(call)
    }

    fn positional(&self) -> Vec<&Arg> {
        self.args
            .iter()
            .filter(|(k, _)| k.is_none())
            .map(|(_, a)| a)
            .collect()
    }

    fn keyword(&self, key: &str) -> Option<&Arg> {
        self.args
            .iter()
            .find(|(k, _)| k.as_deref() == Some(key))
            .map(|(_, a)| a)
    }

    fn number(&self, i: usize, key: &str) -> Result<f64, String> {
        match self
            .keyword(key)
            .or_else(|| self.positional().get(i).copied())
        {
            Some(Arg::Number(n)) => Ok(*n),
            _ => Err(format!("{} needs a number for '{key}'", self.name)),
        }
    }

    fn triggers(&self) -> Result<Vec<Trigger>, String> {
        self.positional()
            .into_iter()
            .map(|a| match a {
                Arg::Call(c) => parse_trigger(c),
                Arg::Number(_) => Err(format!("{} takes triggers", self.name)),
            })
            .collect()
    }
}

struct CallParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl CallParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn ident(&mut self) -> Result<String, String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric()
                || self.s[self.i] == b'_'
                || self.s[self.i] == b'.')
        {
            self.i += 1;
        }
        if start == self.i {
            return Err(format!("expected a name at position {start}"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn call(&mut self) -> Result<Call, String> {
        let name = self.ident()?;
        self.ws();
        let mut args = Vec::new();
        if self.i < self.s.len() && self.s[self.i] == b'(' {
            self.i += 1;
            loop {
                self.ws();
                if self.i < self.s.len() && self.s[self.i] == b')' {
                    self.i += 1;
                    break;
                }
                args.push(self.arg()?);
                self.ws();
                match self.s.get(self.i) {
                    Some(b',') => self.i += 1,
                    Some(b')') => {
                        self.i += 1;
                        break;
                    }
                    _ => {
                        return Err(format!(
                            "expected ',' or ')' at position {} in {name}(...)",
                            self.i
                        ));
                    }
                }
            }
        }
        Ok(Call { name, args })
    }
    fn arg(&mut self) -> Result<(Option<String>, Arg), String> {
        self.ws();
        let first = self.s.get(self.i).copied().unwrap_or(b')');
        if first.is_ascii_digit() || first == b'-' || first == b'.' {
            let start = self.i;
            self.i += 1;
            while self.i < self.s.len()
                && (self.s[self.i].is_ascii_digit()
                    || self.s[self.i] == b'.'
                    || self.s[self.i] == b'e')
            {
                self.i += 1;
            }
            let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            return text
                .parse()
                .map(|n| (None, Arg::Number(n)))
                .map_err(|_| format!("bad number '{text}'"));
        }
        let save = self.i;
        let name = self.ident()?;
        self.ws();
        if self.s.get(self.i) == Some(&b'=') {
            self.i += 1;
            let (_, value) = self.arg()?;
            return Ok((Some(name), value));
        }
        self.i = save;
        Ok((None, Arg::Call(self.call()?)))
    }
}

fn secs_duration(s: f64) -> Duration {
    Duration::from_micros((s * 1e6).round() as i64)
}

/// A window function: `FixedWindows(size)`, `SlidingWindows(size, period)`, `Sessions(gap)`,
/// `GlobalWindows` (numbers in seconds).
pub(super) fn parse_window_fn(c: &Call) -> Result<Arc<dyn WindowFn>, String> {
    let positive = |v: f64, what: &str| {
        let d = secs_duration(v);
        if d.as_micros() > 0 {
            Ok(d)
        } else {
            Err(format!("{what} must be at least a microsecond"))
        }
    };
    let window_fn: Arc<dyn WindowFn> = match c.name.as_str() {
        "GlobalWindows" => Arc::new(GlobalWindows),
        "FixedWindows" => Arc::new(FixedWindows::of(positive(c.number(0, "size")?, "size")?)),
        "SlidingWindows" => Arc::new(SlidingWindows::of(
            positive(c.number(0, "size")?, "size")?,
            positive(c.number(1, "period")?, "period")?,
        )),
        "Sessions" => Arc::new(Sessions::with_gap(positive(c.number(0, "gap")?, "gap")?)),
        other => return Err(format!("unknown window_fn '{other}'")),
    };
    // As WindowInto does: a window function that copies each element into more windows than
    // a pipeline accepts is refused, not run until memory runs out.
    check_windows_per_element(window_fn.as_ref())?;
    Ok(window_fn)
}

/// A trigger in Beam's Python names (`AfterWatermark(early=..., late=...)`, `AfterCount(n)`,
/// `Repeatedly(t)`, ...).
pub(super) fn parse_trigger(c: &Call) -> Result<Trigger, String> {
    let sub = |key: &str| -> Result<Option<Trigger>, String> {
        match c.keyword(key) {
            None => Ok(None),
            Some(Arg::Call(t)) => parse_trigger(t).map(Some),
            Some(Arg::Number(_)) => Err(format!("{}: '{key}' takes a trigger", c.name)),
        }
    };
    Ok(match c.name.as_str() {
        "Default" | "DefaultTrigger" => Trigger::Default,
        "AfterWatermark" | "AfterEndOfWindow" => {
            let mut t = Trigger::after_watermark();
            if let Some(e) = sub("early")? {
                t = t.with_early_firings(e);
            }
            if let Some(l) = sub("late")? {
                t = t.with_late_firings(l);
            }
            t
        }
        "AfterCount" => Trigger::after_count(c.number(0, "count")? as u64),
        "AfterProcessingTime" => {
            Trigger::after_processing_time(secs_duration(c.number(0, "delay")?))
        }
        "Repeatedly" => match c.triggers()?.as_slice() {
            [t] => Trigger::repeatedly(t.clone()),
            _ => return Err("Repeatedly takes one trigger".into()),
        },
        "AfterEach" => Trigger::AfterEach(c.triggers()?),
        "AfterAny" | "AfterFirst" => Trigger::AfterAny(c.triggers()?),
        "AfterAll" => Trigger::AfterAll(c.triggers()?),
        "OrFinally" => match c.triggers()?.as_slice() {
            [a, b] => a.clone().or_finally(b.clone()),
            _ => return Err("OrFinally takes two triggers".into()),
        },
        "Never" => Trigger::Never,
        "Always" => Trigger::Always,
        other => return Err(format!("unknown trigger '{other}'")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_calls_with_keywords() {
        let c = Call::parse(
            "AfterWatermark(early=AfterCount(2), late=Repeatedly(AfterProcessingTime(5)))",
        )
        .unwrap();
        let t = parse_trigger(&c).unwrap();
        assert_eq!(
            t,
            Trigger::after_watermark()
                .with_early_firings(Trigger::after_count(2))
                .with_late_firings(Trigger::repeatedly(Trigger::after_processing_time(
                    Duration::from_secs(5)
                )))
        );
        assert!(parse_trigger(&Call::parse("Sometimes").unwrap()).is_err());
        assert!(Call::parse("AfterCount(2").is_err());
    }
}
