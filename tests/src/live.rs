//! Reading a running job's live metrics over HTTP: a GET, and a parser of the Prometheus text
//! format that refuses any line it does not understand.

use std::collections::BTreeMap;
use std::io::{Read, Write};

/// `GET path` from `addr`; the status and the body.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Ok((status, body))
}

/// The body of a chunked response.
fn dechunk(mut body: &str) -> std::io::Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body
            .split_once("\r\n")
            .ok_or_else(|| std::io::Error::other("a chunk without a size line"))?;
        let size = usize::from_str_radix(size.trim(), 16)
            .map_err(|e| std::io::Error::other(format!("bad chunk size {size:?}: {e}")))?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(
            rest.get(..size)
                .ok_or_else(|| std::io::Error::other("short chunk"))?,
        );
        body = rest.get(size + 2..).unwrap_or("");
    }
}

/// One sample of a Prometheus text exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// Parses a text exposition: `# ...` comments, and `name{label="value",...} number` lines.
pub fn parse_prometheus(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line:?}", i + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .ok_or_else(|| bad("no value"))?;
        let name = line[..name_end].to_string();
        if name.is_empty() {
            return Err(bad("no name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            loop {
                let Some((start, c)) = chars.next() else {
                    return Err(bad("unterminated labels"));
                };
                if c == '}' {
                    rest = &inner[start + 1..];
                    break;
                }
                if c == ',' {
                    continue;
                }
                let eq = inner[start..]
                    .find('=')
                    .ok_or_else(|| bad("a label without ="))?;
                let key = inner[start..start + eq].to_string();
                while let Some((j, _)) = chars.peek() {
                    if *j > start + eq {
                        break;
                    }
                    chars.next();
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err(bad("a label value without quotes"));
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c @ ('\\' | '"'))) => value.push(c),
                            _ => return Err(bad("a bad escape")),
                        },
                        Some((_, c)) => value.push(c),
                        None => return Err(bad("an unterminated label value")),
                    }
                }
                labels.insert(key, value);
            }
        }
        let value = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| bad("no value"))?;
        let value: f64 = value
            .parse()
            .map_err(|_| bad("a value that is not a number"))?;
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    Ok(samples)
}

/// The value of series `name` whose label `label` is `value`, if there is one.
pub fn sample(samples: &[Sample], name: &str, label: &str, value: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && s.labels.get(label).map(String::as_str) == Some(value))
        .map(|s| s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_with_escapes_and_refuses_garbage() {
        let text = "# TYPE x counter\nx_total{transform=\"a \\\"b\\\"\",kind=\"ParDo\"} 10\nup 1.5\n# EOF\n";
        let s = parse_prometheus(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels["transform"], "a \"b\"");
        assert_eq!(sample(&s, "x_total", "kind", "ParDo"), Some(10.0));
        assert_eq!(s[1].value, 1.5);
        assert!(parse_prometheus("x{a=\"b} 1").is_err());
        assert!(parse_prometheus("x{a=\"b\"} one").is_err());
        assert!(parse_prometheus("x{a=b} 1").is_err());
    }
}
