//! Finding line numbers in `purposes.toml` for semantic errors, which the TOML parser cannot
//! know about: the n-th `[[purpose]]` header starts the n-th purpose's block, and within a
//! block the offending key is found by name.
//!
//! Guarantees: always returns a line inside the file (falling back to the block's header), so
//! an error message never points nowhere. Never changes the text.

/// The 1-based line holding byte `offset`.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// `(header line, last line)` of each `[[purpose]]` block, in file order (1-based, inclusive).
pub fn purpose_blocks(text: &str) -> Vec<(usize, usize)> {
    let headers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| is_purpose_header(line))
        .map(|(i, _)| i + 1)
        .collect();
    let last_line = text.lines().count().max(1);
    headers
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = headers.get(i + 1).map_or(last_line, |next| next - 1);
            (start, end)
        })
        .collect()
}

fn is_purpose_header(line: &str) -> bool {
    let code = line.split('#').next().unwrap_or("");
    let squeezed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    squeezed == "[[purpose]]"
}

/// The first line in `block` that assigns `key` (`key = …`, also inside an inline table), or
/// the block's header line.
pub fn key_line(text: &str, block: (usize, usize), key: &str) -> usize {
    let (start, end) = block;
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(n, _)| (start..=end).contains(n))
        .find(|(_, line)| assigns(line, key))
        .map_or(start, |(n, _)| n)
}

fn assigns(line: &str, key: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line.match_indices(key).any(|(at, _)| {
        let before_ok = line[..at].chars().next_back().is_none_or(|c| !is_word(c));
        let after = line[at + key.len()..].trim_start();
        before_ok && after.starts_with('=')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_run_from_one_header_to_the_line_before_the_next() {
        let text = "# c\n[[purpose]]\nid = \"a\"\n\n[[ purpose ]] # two\nid = \"b\"\n";
        assert_eq!(purpose_blocks(text), vec![(2, 4), (5, 6)]);
    }

    #[test]
    fn a_key_is_found_by_name_and_not_by_a_longer_name_that_ends_with_it() {
        let text = "[[purpose]]\nauto_max_rows = 1\nmax_rows = 5\n";
        assert_eq!(key_line(text, (1, 3), "max_rows"), 3);
        assert_eq!(key_line(text, (1, 3), "missing"), 1);
    }
}
