//! Running text that both writers render: plain words and code (names, commands), so that
//! Markdown shows backticks and HTML shows `<code>`, never the other's syntax.

/// A piece of running text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inline {
    /// Plain words.
    Text(String),
    /// A name or a command, shown in a fixed-width font.
    Code(String),
}

/// A sentence or paragraph.
pub type Rich = Vec<Inline>;

/// Plain words.
pub fn text(words: impl Into<String>) -> Inline {
    Inline::Text(words.into())
}

/// A name or command.
pub fn code(words: impl Into<String>) -> Inline {
    Inline::Code(words.into())
}

/// Text written with Markdown code spans (as the scenario files' explanations are), split into
/// plain words and code; an unpaired backtick stays plain text, as an apostrophe.
pub fn from_markdown(source: &str) -> Rich {
    let parts: Vec<&str> = source.split('`').collect();
    let paired = parts.len() % 2 == 1;
    let mut rich = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        if i % 2 == 1 && (paired || !last) {
            rich.push(code(*part));
        } else if i % 2 == 1 {
            rich.push(text(format!("'{part}")));
        } else if !part.is_empty() {
            rich.push(text(*part));
        }
    }
    rich
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_are_split_out() {
        assert_eq!(
            from_markdown("run `cp a b` now"),
            [text("run "), code("cp a b"), text(" now")]
        );
        assert_eq!(from_markdown("it`s"), [text("it"), text("'s")]);
    }
}
