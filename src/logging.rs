//! Logging for `braid serve`: `tracing` to stderr as text or JSON lines. The text format writes
//! every field value and the message through [`EscapedFields`], which escapes control characters,
//! so a value from the network (an upstream `error_description`, an issuer, a provider id from a
//! path) can neither forge a log line nor send escape sequences to a terminal, whatever the call
//! site's `%` or `?`. The JSON format escapes them already.

use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatFields, Writer};
use tracing_subscriber::fmt::{FormattedFields, MakeWriter};
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{LogFormat, LogSettings};

/// Install the global subscriber for `settings` (`RUST_LOG` wins over `settings.level`).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let ansi = std::io::stderr().is_terminal();
    match settings.format {
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .json()
            .init(),
        LogFormat::Text => text_subscriber(filter, std::io::stderr, ansi).init(),
    }
}

/// The text-format subscriber braid runs with, writing to `writer` (tests capture it).
pub fn text_subscriber<W>(filter: EnvFilter, writer: W, ansi: bool) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .fmt_fields(EscapedFields)
        .finish()
}

/// Formats fields as `name=value` separated by spaces (the message bare, first), like
/// tracing-subscriber's default, with every control character of a value escaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor { writer, empty: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }

    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        let empty = current.fields.is_empty();
        let mut visitor = EscapingVisitor { writer: current.as_writer(), empty, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'w> {
    writer: Writer<'w>,
    empty: bool,
    result: fmt::Result,
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(s) = source {
            let _ = write!(text, ": {s}");
            source = s.source();
        }
        self.record_debug(field, &format_args!("{text}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        // The `log` crate's metadata, which the event formatter has already shown.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        self.result = self.write_field(name, value);
    }
}

impl EscapingVisitor<'_> {
    fn write_field(&mut self, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
        if !self.empty {
            self.writer.write_char(' ')?;
        }
        self.empty = false;
        // Field names are identifiers written in braid's source; only values come from outside.
        if name != "message" {
            write!(self.writer, "{}=", name.strip_prefix("r#").unwrap_or(name))?;
        }
        write!(Escaping(&mut self.writer), "{value:?}")
    }
}

/// A `fmt::Write` that escapes control characters on their way to the inner writer.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.0, s)
    }
}

/// Whether `c` must not reach a log line as itself: C0 and C1 controls, DEL, and the Unicode
/// line and paragraph separators.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Write `s` to `out` with `\n`, `\r`, `\t` and every other character [`needs_escape`] names
/// written as Rust writes them in `Debug` (`\u{1b}`, `\u{2028}`). Backslashes stay as they are:
/// the aim is one line with every control character visible, not a reversible encoding.
pub fn write_escaped(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    let mut from = 0;
    for (i, c) in s.char_indices() {
        if !needs_escape(c) {
            continue;
        }
        out.write_str(&s[from..i])?;
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c => write!(out, "\\u{{{:x}}}", u32::from(c))?,
        }
        from = i + c.len_utf8();
    }
    out.write_str(&s[from..])
}

/// `s` with its control characters escaped (see [`write_escaped`]).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Writing to a String cannot fail.
    let _ = write_escaped(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape("plain text, é ü 漢字 / \\ \"q\""), "plain text, é ü 漢字 / \\ \"q\"");
        assert_eq!(escape("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(escape("\u{1b}[31mred\u{1b}[0m"), "\\u{1b}[31mred\\u{1b}[0m");
        assert_eq!(escape("\0\u{7}\u{8}\u{b}\u{c}\u{1f}\u{7f}"), "\\u{0}\\u{7}\\u{8}\\u{b}\\u{c}\\u{1f}\\u{7f}");
        // C1 controls (NEL, CSI) and the Unicode line and paragraph separators.
        assert_eq!(escape("x\u{85}y\u{9b}z"), "x\\u{85}y\\u{9b}z");
        assert_eq!(escape("l\u{2028}p\u{2029}"), "l\\u{2028}p\\u{2029}");
        assert_eq!(escape(""), "");
        assert_eq!(escape("\n"), "\\n");
    }

    #[test]
    fn no_escaped_output_holds_a_control_character() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = escape(&all);
        assert!(!out.chars().any(needs_escape));
        assert!(out.contains("\\u{2029}") && out.contains("\\u{9f}") && out.contains('\u{a0}'));
    }

    /// A `MakeWriter` that keeps every byte written.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Capture {
        type Writer = Capture;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    fn capture(ansi: bool, emit: impl FnOnce()) -> String {
        let out = Capture::default();
        let subscriber = text_subscriber(EnvFilter::new("info"), out.clone(), ansi);
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    const FORGED: &str = "\r\n2026-01-01T00:00:00Z INFO forged";

    #[test]
    fn a_forged_line_in_any_field_stays_on_one_visible_line() {
        for ansi in [false, true] {
            let out = capture(ansi, || {
                let span = tracing::info_span!("request", path = %FORGED);
                let _entered = span.enter();
                let err = std::io::Error::other(FORGED);
                tracing::warn!(
                    error_description = %FORGED,
                    issuer = ?FORGED,
                    subject = FORGED,
                    error = &err as &(dyn std::error::Error + 'static),
                    "upstream said {FORGED}\u{1b}[2J\u{2028}"
                );
            });
            assert_eq!(out.matches('\n').count(), 1, "one line: {out:?}");
            assert!(out.ends_with('\n'), "{out:?}");
            let line = out.trim_end_matches('\n');
            assert!(!line.contains('\r') && !line.contains('\u{2028}'), "{line:?}");
            if !ansi {
                assert!(!line.contains('\u{1b}'), "{line:?}");
            }
            assert!(
                line.contains("upstream said \\r\\n2026-01-01T00:00:00Z INFO forged\\u{1b}[2J\\u{2028}"),
                "{line:?}"
            );
            assert!(line.contains("error_description=\\r\\n2026-01-01T00:00:00Z INFO forged"), "{line:?}");
            // `?` and bare strings are Debug-quoted, as before; their escapes stay readable.
            assert!(line.contains("issuer=\"\\r\\n2026-01-01T00:00:00Z INFO forged\""), "{line:?}");
            assert!(line.contains("subject=\"\\r\\n2026-01-01T00:00:00Z INFO forged\""), "{line:?}");
            assert!(line.contains("error=\\r\\n2026"), "{line:?}");
            assert!(line.contains("path=\\r\\n2026"), "span fields too: {line:?}");
        }
    }
}
