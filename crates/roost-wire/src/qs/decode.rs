//! Percent-decoding as qs' default decoder does it (utf-8 charset).
//!
//! qs turns `+` into a space, then calls `decodeURIComponent`; when that throws (a `%` without two
//! hex digits after it, or escapes that are not one valid UTF-8 sequence) the *whole* string is
//! kept as it was after the `+` replacement, not just the bad escape.

/// Decodes one key or value the way `qs.parse` does.
pub(super) fn decode(raw: &str) -> String {
    let spaced = if raw.contains('+') {
        raw.replace('+', " ")
    } else {
        raw.to_owned()
    };
    if !spaced.contains('%') {
        return spaced;
    }
    decode_uri_component(&spaced).unwrap_or(spaced)
}

/// ECMAScript `decodeURIComponent`; `None` where it throws `URIError`.
fn decode_uri_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            // Copying byte by byte never splits a character: only ASCII `%` stops the copy.
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let lead = escaped_byte(bytes, i)?;
        i += 3;
        let width = match lead.leading_ones() {
            0 => 1,
            n @ 2..=4 => n as usize,
            _ => return None,
        };
        let start = out.len();
        out.push(lead);
        for _ in 1..width {
            let next = escaped_byte(bytes, i)?;
            if next & 0xC0 != 0x80 {
                return None;
            }
            out.push(next);
            i += 3;
        }
        // Rejects overlong forms, surrogates and code points above U+10FFFF, as the spec does.
        std::str::from_utf8(&out[start..]).ok()?;
    }
    String::from_utf8(out).ok()
}

/// The byte written as `%XX` at `at`, if there is one.
fn escaped_byte(bytes: &[u8], at: usize) -> Option<u8> {
    match bytes.get(at..at + 3)? {
        [b'%', hi, lo] => Some(hex(*hi)? << 4 | hex(*lo)?),
        _ => None,
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(decode("a+b%20c"), "a b c");
        assert_eq!(decode("%E2%9C%93%e2%9c%93"), "✓✓");
        assert_eq!(decode("%F0%9F%98%80"), "😀");
        assert_eq!(decode("%2B"), "+");
        assert_eq!(decode("é"), "é");
    }

    #[test]
    fn keeps_the_whole_string_when_decoding_fails() {
        for raw in [
            "%",
            "%2",
            "%zz",
            "100%",
            "%E2%9C",
            "%FF",
            "%C0%80",
            "%ED%A0%80",
            "%F4%90%80%80",
        ] {
            assert_eq!(decode(raw), raw);
        }
        assert_eq!(decode("%41+%zz"), "%41 %zz");
    }
}
