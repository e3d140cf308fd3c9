//! Proto comments → rustdoc lines that can never break a build, `cargo doc` or
//! `cargo test --doc`.
//!
//! Proto comments are plain text written by people who never think of Markdown, but rustdoc
//! reads doc comments as Markdown: an indented example or an untagged code fence is a doctest
//! that fails to compile, `[name]` is a broken intra-doc link, `<tag>` is invalid HTML and a
//! bare URL is warned about. In the spirit of prost-build's comment sanitizer:
//!
//! - prose stays prose, with `\`, `[`, `]`, `<`, `>` and `*/` escaped and bare `http(s)://`
//!   URLs wrapped in `<...>`; inline code spans closed on the same line are kept verbatim,
//!   and a backtick that opens nothing on its line is escaped;
//! - every indented block (4+ columns) and every fenced block, whatever its language, becomes
//!   a ```` ```text ```` block, closed at the end if the comment never closes it, with a fence
//!   longer than any backtick run inside so nothing in the text can end it early;
//! - blockquotes, code fences opened after a list marker and list items that start with
//!   indented code are neutralised, since each of those is another way into a code block;
//! - carriage returns, other control characters and Unicode bidi overrides (a hard error in
//!   Rust comments) are dropped, tabs become spaces, and each returned line is a single line.

/// Unicode text-direction codepoints: rustc denies them in comments and literals.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The comment's lines with line endings normalised and unsafe characters removed.
fn clean_lines(comment: &str) -> Vec<String> {
    let normalized = comment.replace("\r\n", "\n").replace('\r', "\n");
    normalized
        .split('\n')
        .map(|line| {
            let mut out = String::with_capacity(line.len());
            for c in line.chars() {
                if c == '\t' {
                    out.push_str("    ");
                } else if !c.is_control() && !is_bidi(c) {
                    out.push(c);
                }
            }
            out.trim_end().to_owned()
        })
        .collect()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// A fence opening (or closing) line: its character, run length and the rest of the line.
fn fence(line: &str) -> Option<(char, usize)> {
    if indent(line) >= 4 {
        return None;
    }
    let rest = line.trim_start_matches(' ');
    let c = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let run = rest.len() - rest.trim_start_matches(c).len();
    // A backtick fence's info string may not contain a backtick.
    let info = &rest[run..];
    (run >= 3 && !(c == '`' && info.contains('`'))).then_some((c, run))
}

/// Sanitizes one proto comment into rustdoc lines, without the leading space a `///`
/// comment usually has and without line breaks. Empty when the comment is blank.
pub fn sanitize(comment: &str) -> Vec<String> {
    let mut lines = clean_lines(comment);
    // Drop the indentation every line shares (the space after `//`, or a block comment's).
    let common = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| indent(l))
        .min()
        .unwrap_or(0);
    for line in &mut lines {
        *line = line.get(common..).unwrap_or("").to_owned();
    }

    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        if let Some((c, run)) = fence(line) {
            // A fenced block, closed by the same character at least as long, or by the end.
            let strip = indent(line);
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() {
                if let Some((close, len)) = fence(&lines[i]) {
                    let only_fence = lines[i].trim().chars().all(|x| x == close);
                    if close == c && len >= run && only_fence {
                        i += 1;
                        break;
                    }
                }
                let l = &lines[i];
                body.push(l[indent(l).min(strip)..].to_owned());
                i += 1;
            }
            text_block(&mut out, body);
        } else if starts_block(&lines[i..]) {
            // An indented block: it runs on through blank lines while more lines indented 4+
            // follow, and over the lines indented 2+ that touch it (the `service Foo {` and
            // `}` around an indented `rpc`).
            let mut end = i;
            let mut j = i;
            while j < lines.len() {
                let l = &lines[j];
                let touching = j == end + 1 && indent(l) >= 2;
                if !l.is_empty() && (indent(l) >= 4 || touching || j == i) {
                    end = j;
                } else if !l.is_empty() {
                    break;
                }
                j += 1;
            }
            let body: Vec<&String> = lines[i..=end].iter().collect();
            let strip = body
                .iter()
                .filter(|l| !l.is_empty())
                .map(|l| indent(l))
                .min()
                .unwrap_or(0);
            text_block(
                &mut out,
                body.iter()
                    .map(|l| l.get(strip..).unwrap_or("").to_owned())
                    .collect(),
            );
            i = end + 1;
        } else {
            out.push(prose(line));
            i += 1;
        }
    }

    // No blank lines at either end, nor runs of them.
    out.dedup_by(|b, a| a.is_empty() && b.is_empty());
    while out.first().is_some_and(String::is_empty) {
        out.remove(0);
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// Whether an indented block starts at `lines[0]`: it is indented 4+, or 2+ and so is every
/// line down to one indented 4+ in the same paragraph.
fn starts_block(lines: &[String]) -> bool {
    for line in lines {
        if line.is_empty() || indent(line) < 2 {
            return false;
        }
        if indent(line) >= 4 {
            return true;
        }
    }
    false
}

/// `body` as a ```` ```text ```` block whose fence nothing inside can close.
fn text_block(out: &mut Vec<String>, mut body: Vec<String>) {
    while body.last().is_some_and(String::is_empty) {
        body.pop();
    }
    let longest = body.iter().map(|l| longest_run(l, '`')).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    // A fence interrupts a paragraph, but a blank line keeps the source readable.
    if out.last().is_some_and(|l| !l.is_empty()) {
        out.push(String::new());
    }
    out.push(format!("{fence}text"));
    out.extend(body);
    out.push(fence);
    out.push(String::new());
}

fn longest_run(line: &str, c: char) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for x in line.chars() {
        run = if x == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// One prose line: Markdown punctuation that could start a link, HTML, a blockquote or a
/// code block is escaped; code spans closed on this line are kept as they are.
fn prose(line: &str) -> String {
    let line = collapse_list_markers(line);
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '`' {
            let run = chars[i..].iter().take_while(|x| **x == '`').count();
            // A run of three or more could open a fence after a list marker; never a span.
            let close = (run < 3)
                .then(|| closing_run(&chars, i + run, run))
                .flatten();
            match close {
                Some(end) => {
                    out.extend(&chars[i..end + run]);
                    i = end + run;
                }
                None => {
                    for _ in 0..run {
                        out.push_str("\\`");
                    }
                    i += run;
                }
            }
            continue;
        }
        if let Some(len) = url_at(&chars, i) {
            out.push('<');
            out.extend(&chars[i..i + len]);
            out.push('>');
            i += len;
            continue;
        }
        match c {
            '\\' | '[' | ']' | '<' | '>' => {
                out.push('\\');
                out.push(c);
            }
            '*' if chars.get(i + 1) == Some(&'/') => out.push_str("\\*"),
            '~' => {
                let run = chars[i..].iter().take_while(|x| **x == '~').count();
                for _ in 0..run {
                    out.push_str(if run >= 3 { "\\~" } else { "~" });
                }
                i += run;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Where a backtick run of exactly `run` starting at or after `from` begins, if any.
fn closing_run(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut i = from;
    while i < chars.len() {
        if chars[i] == '`' {
            let len = chars[i..].iter().take_while(|x| **x == '`').count();
            if len == run {
                return Some(i);
            }
            i += len;
        } else {
            i += 1;
        }
    }
    None
}

/// The length of a bare `http://` or `https://` URL starting at `i`, without trailing
/// punctuation, if one starts there.
fn url_at(chars: &[char], i: usize) -> Option<usize> {
    if i > 0 && chars[i - 1].is_alphanumeric() {
        return None;
    }
    let rest: String = chars[i..].iter().take(8).collect();
    let scheme = if rest.starts_with("https://") {
        8
    } else if rest.starts_with("http://") {
        7
    } else {
        return None;
    };
    let mut len = chars[i..]
        .iter()
        .take_while(|c| !c.is_whitespace() && !"<>[]`\\\"".contains(**c))
        .count();
    // Trailing punctuation ends the sentence, not the URL; a `)` only when unbalanced.
    while len > scheme {
        let last = chars[i + len - 1];
        let url = &chars[i..i + len];
        let opens = url.iter().filter(|c| **c == '(').count();
        let closes = url.iter().filter(|c| **c == ')').count();
        if ".,;:!?'".contains(last) || (last == ')' && closes > opens) {
            len -= 1;
        } else {
            break;
        }
    }
    (len > scheme).then_some(len)
}

/// List markers at the start of a line keep one space after them: more would make the item
/// start with an indented code block. Nested markers (`- - x`) are handled alike.
fn collapse_list_markers(line: &str) -> String {
    let lead = indent(line);
    let mut out = line[..lead].to_owned();
    let mut rest = &line[lead..];
    loop {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let marker = if rest.starts_with(['-', '+', '*']) {
            1
        } else if (1..=9).contains(&digits) && rest[digits..].starts_with(['.', ')']) {
            digits + 1
        } else {
            0
        };
        let after = &rest[marker..];
        if marker == 0 || !after.starts_with(' ') {
            break;
        }
        out.push_str(&rest[..marker]);
        out.push(' ');
        rest = after.trim_start_matches(' ');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    fn s(comment: &str) -> String {
        sanitize(comment).join("\n")
    }

    #[test]
    fn plain_prose_is_unchanged() {
        assert_eq!(
            s(" Says hello.\n\n Second paragraph, with `code`.\n"),
            "Says hello.\n\nSecond paragraph, with `code`."
        );
        assert_eq!(s(""), "");
        assert_eq!(s(" \n\n  \n"), "");
    }

    #[test]
    fn indented_block_becomes_text_and_prose_stays_prose() {
        assert_eq!(
            s(" Example:\n\n     let x = 1;\n       nested\n\n     more\n After.\n"),
            "Example:\n\n```text\nlet x = 1;\n  nested\n\nmore\n```\n\nAfter."
        );
        // Lines indented less that touch the block belong to it.
        assert_eq!(
            s(" For instance:\n\n   service Foo {\n     rpc Bar (A) returns (B);\n   };\n"),
            "For instance:\n\n```text\nservice Foo {\n  rpc Bar (A) returns (B);\n};\n```"
        );
        assert_eq!(s(" a\n   b\n c"), "a\n  b\nc");
        // Tabs count as indentation.
        assert_eq!(s(" a\n \tcode\n"), "a\n\n```text\ncode\n```");
    }

    #[test]
    fn untagged_and_rust_fences_become_text() {
        assert_eq!(
            s(" ```\n fn main() {}\n ```\n"),
            "```text\nfn main() {}\n```"
        );
        assert_eq!(s(" ```rust\n x\n ```"), "```text\nx\n```");
        assert_eq!(s(" ~~~python\n x\n ~~~"), "```text\nx\n```");
        assert_eq!(s(" ```text\n x\n ```"), "```text\nx\n```");
    }

    #[test]
    fn unclosed_fence_is_closed() {
        assert_eq!(s(" Intro\n ```\n let x"), "Intro\n\n```text\nlet x\n```");
    }

    #[test]
    fn fence_inside_block_cannot_close_it() {
        assert_eq!(
            s(" ~~~\n ```\n ````\n ~~~\n"),
            "`````text\n```\n````\n`````"
        );
        assert_eq!(
            s(" x\n     ```\n     code"),
            "x\n\n````text\n```\ncode\n````"
        );
        // Everything indented alike is not a block: the shared indentation goes first.
        assert_eq!(s("     ```\n     code"), "```text\ncode\n```");
    }

    #[test]
    fn brackets_and_html_are_escaped_outside_code() {
        assert_eq!(
            s(" See [Foo] and <b>bold</b>; a -> b."),
            "See \\[Foo\\] and \\<b\\>bold\\</b\\>; a -\\> b."
        );
        assert_eq!(s(" `[kept]` <x>"), "`[kept]` \\<x\\>");
        assert_eq!(s(" [^1]: note"), "\\[^1\\]: note");
    }

    #[test]
    fn bare_urls_are_wrapped() {
        assert_eq!(
            s(" See https://grpc.io/docs, or (http://a.b/c)."),
            "See <https://grpc.io/docs>, or (<http://a.b/c>)."
        );
        assert_eq!(s(" (https://a.b/x_(y))."), "(<https://a.b/x_(y)>).");
        assert_eq!(s(" not a url: https://"), "not a url: https://");
        assert_eq!(s(" <https://x.y>"), "\\<<https://x.y>\\>");
    }

    #[test]
    fn backslashes_and_comment_ends_are_escaped() {
        assert_eq!(s(" ends with \\\n next"), "ends with \\\\\nnext");
        assert_eq!(s(" a \\[b] */ c"), "a \\\\\\[b\\] \\*/ c");
        assert_eq!(s(" /* c */"), "/* c \\*/");
    }

    #[test]
    fn stray_backticks_are_escaped() {
        assert_eq!(s(" one ` two"), "one \\` two");
        assert_eq!(s(" a ```rust b"), "a \\`\\`\\`rust b");
        assert_eq!(s(" - ```\n   code"), "- \\`\\`\\`\n  code");
    }

    #[test]
    fn blockquotes_and_list_items_cannot_open_code() {
        assert_eq!(s(" >     code"), "\\>     code");
        assert_eq!(s(" -     code\n 1.      more"), "- code\n1. more");
        assert_eq!(s(" - -     x"), "- - x");
        assert_eq!(s(" - item\n   continued"), "- item\n  continued");
    }

    #[test]
    fn control_and_bidi_characters_are_dropped() {
        assert_eq!(s(" a\rb\r\n c\u{0}\u{202E}d"), " a\nb\n cd");
        for line in sanitize(" x\ry\u{2066}z\n") {
            assert!(!line.contains(['\r', '\n', '\u{2066}']), "{line:?}");
        }
    }
}
