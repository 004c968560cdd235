//! What `dsdt cat` prints, as Python Disdat prints a bundle's value with `print(value)`: a
//! scalar link as its path, a list of links as numpy prints a 1-d string array (elements
//! quoted, separated by a space, wrapped at 75 columns, more than 1,000 summarised).

/// Python's `repr` of a str.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str()` of a datetime made from unix seconds `t` (local time, or UTC):
/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, microseconds rounded half to even and left out when zero.
pub fn datetime(t: f64, local: bool) -> String {
    let mut secs = t.floor();
    let mut micros = ((t - secs) * 1e6).round_ties_even();
    if micros >= 1e6 {
        secs += 1.0;
        micros -= 1e6;
    }
    let utc = chrono::DateTime::from_timestamp(secs as i64, 0).unwrap_or_default();
    let base = if local {
        utc.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    } else {
        utc.format("%Y-%m-%d %H:%M:%S").to_string()
    };
    if micros == 0.0 {
        base
    } else {
        format!("{base}.{:06}", micros as u32)
    }
}

/// numpy's `str()` of a 1-d array of strings.
pub fn string_array(items: &[String]) -> String {
    array(items.iter().map(|s| str_repr(s)).collect())
}

/// numpy's `str()` of a 1-d array of integers: right-aligned to the widest.
pub fn int_array(items: &[String]) -> String {
    let width = items.iter().map(String::len).max().unwrap_or(0);
    array(items.iter().map(|s| format!("{s:>width$}")).collect())
}

/// numpy's 1-d layout of formatted elements: separated by a space, wrapped at 75 columns with a
/// one-space hanging indent, more than 1,000 summarised by their first and last three.
fn array(mut words: Vec<String>) -> String {
    const WIDTH: usize = 75;
    const EDGE: usize = 3;
    if words.len() > 1000 {
        let tail = words.split_off(words.len() - EDGE);
        words.truncate(EDGE);
        words.push("...".into());
        words.extend(tail);
    }
    // The line starts with the hanging indent " ", replaced by "[" at the end; a word that
    // would pass the width goes on a new line, unless it is the line's first.
    let mut s = String::new();
    let mut line = String::from(" ");
    let last = words.len().saturating_sub(1);
    for (i, w) in words.iter().enumerate() {
        let width = WIDTH - 1; // room for the "]" or the separator
        if line.len() + w.len() > width && line.len() > 1 {
            s.push_str(line.trim_end());
            s.push('\n');
            line = String::from(" ");
        }
        line.push_str(w);
        if i != last {
            line.push(' ');
        }
    }
    s.push_str(&line);
    format!("[{}]", &s[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_as_python_and_numpy_print_them() {
        assert_eq!(str_repr("a'b"), "\"a'b\"");
        assert_eq!(str_repr("ab"), "'ab'");
        let long = vec![
            "/tmp/dh/.disdat/context/ex/objects/f76c79a7-95e1-45ad-a750-5c370ffe2173/one.txt"
                .to_string(),
            "/tmp/dh/.disdat/context/ex/objects/f76c79a7-95e1-45ad-a750-5c370ffe2173/sub/two.txt"
                .to_string(),
        ];
        assert_eq!(
            string_array(&long),
            "['/tmp/dh/.disdat/context/ex/objects/f76c79a7-95e1-45ad-a750-5c370ffe2173/one.txt'\n '/tmp/dh/.disdat/context/ex/objects/f76c79a7-95e1-45ad-a750-5c370ffe2173/sub/two.txt']"
        );
        let short: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(string_array(&short), "['a' 'b' 'c']");
        let ints: Vec<String> = ["1", "10", "-3"].iter().map(|s| s.to_string()).collect();
        assert_eq!(int_array(&ints), "[ 1 10 -3]");
    }
}
