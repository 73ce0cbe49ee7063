//! The word tokenizer of the WordCount examples.
//!
//! A word is a maximal run of Unicode letters (general category L: Lu, Ll, Lt, Lm, Lo), as
//! Beam's WordCount splits on the regular expression `[^\p{L}]+`. Everything else — digits,
//! punctuation, apostrophes, spaces, combining marks (category M) — separates words. Case is
//! kept and empty tokens are dropped.

use unicode_general_category::{GeneralCategory, get_general_category};

/// Whether `c` is a Unicode letter (general category L*).
#[inline]
pub fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    matches!(
        get_general_category(c),
        GeneralCategory::UppercaseLetter
            | GeneralCategory::LowercaseLetter
            | GeneralCategory::TitlecaseLetter
            | GeneralCategory::ModifierLetter
            | GeneralCategory::OtherLetter
    )
}

/// The words of `line`.
pub fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !is_letter(c))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_everything_but_letters() {
        let w: Vec<&str> = words("Unburden'd crawl, toward-death 42x Über ǅemal").collect();
        assert_eq!(
            w,
            vec![
                "Unburden", "d", "crawl", "toward", "death", "x", "Über", "ǅemal"
            ]
        );
        // A combining acute accent (Mn) separates; a precomposed é (Ll) does not.
        let w: Vec<&str> = words("cafe\u{301} café 東京 Ⅻ").collect();
        assert_eq!(w, vec!["cafe", "café", "東京"]);
    }
}
