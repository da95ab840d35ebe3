//! What parsing a JSON text will cost, told before parsing it. A parsed value costs tens of
//! times its text: `[{"a":"b"},…]` (about 10 bytes per object) takes about 1 KiB of heap per
//! object once parsed, so a 1 MiB message can cost 100 MiB. Counting the values first (one
//! pass over the bytes, nothing allocated) lets a transport refuse such a message unparsed.

/// Whether `text` holds more than `max` JSON values: objects, arrays, strings (object keys
/// included, as each costs an allocation), numbers, `true`, `false` and `null`. Stops as
/// soon as `max` is passed. Not a validator: bytes that are not JSON are counted loosely,
/// and the parser judges them afterwards.
pub fn has_more_values_than(text: &[u8], max: usize) -> bool {
    let mut count = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                i += 1;
                while i < text.len() {
                    match text[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
            }
            b'{' | b'[' => {}
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                // One scalar: skip the rest of it.
                while i + 1 < text.len()
                    && matches!(text[i + 1], b'0'..=b'9' | b'a'..=b'z' | b'.' | b'+' | b'-' | b'E')
                {
                    i += 1;
                }
            }
            _ => {
                i += 1;
                continue;
            }
        }
        count += 1;
        if count > max {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> usize {
        (0..1000)
            .find(|&n| !has_more_values_than(text.as_bytes(), n))
            .unwrap_or(1000)
    }

    #[test]
    fn counts_every_value_and_key() {
        assert_eq!(count("1"), 1);
        assert_eq!(count("[]"), 1);
        assert_eq!(count(r#"{"a":"b"}"#), 3);
        assert_eq!(count(r#"[1, -2.5e+10, true, false, null, "x"]"#), 7);
        assert_eq!(count(r#"["a\"b,[c", {"k": [1,2]}]"#), 7);
        assert_eq!(
            count(r#"{"type":0,"data":["create","m",{"text":"hi"}],"id":1}"#),
            12
        );
        // Garbage is counted loosely, never a panic.
        assert_eq!(count(r#""unterminated\"#), 1);
        assert_eq!(count("]]]}}},,,::"), 0);
    }

    #[test]
    fn stops_as_soon_as_the_limit_is_passed() {
        let many = format!("[{}0]", "0,".repeat(100_000));
        assert!(has_more_values_than(many.as_bytes(), 50_000));
        assert!(!has_more_values_than(many.as_bytes(), 100_002));
    }
}
