//! Template filters whose output size follows from an argument (`indent`'s width,
//! `format`'s field widths, `replace`'s replacement) are replaced by versions that
//! work the size out first and refuse before allocating, then call minijinja's own.
//! The isolated render (`sandbox.rs`) bounds everything else; these give a clear
//! error instead of a budget exhausted.

use minijinja::{
    Environment, Error, ErrorKind, State, Value,
    value::{Kwargs, Rest, StringInput},
};

use super::render::MAX_OUTPUT_BYTES;

/// The widest field a `format` specification may ask for.
const MAX_FIELD_WIDTH: usize = 10_000;

fn too_large(filter: &str, bytes: usize) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "{filter} would produce about {bytes} bytes; a template renders at most {MAX_OUTPUT_BYTES}"
        ),
    )
}

pub fn install(env: &mut Environment<'_>) {
    env.add_filter("indent", indent);
    env.add_filter("format", format);
    env.add_filter("replace", replace);
}

fn indent(
    value: StringInput<'_>,
    width: Option<usize>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let per_line = match width {
        Some(width) => width,
        None => kwargs.peek::<Option<usize>>("width")?.unwrap_or(4),
    };
    let text = value.as_str();
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let bytes = lines.saturating_mul(per_line).saturating_add(text.len());
    if bytes > MAX_OUTPUT_BYTES {
        return Err(too_large("indent", bytes));
    }
    minijinja::filters::indent(value, width, first, blank, kwargs)
}

/// The field widths and precisions a printf-style format string asks for.
fn field_widths(format: &str) -> Result<usize, Error> {
    let mut total = 0usize;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            continue;
        }
        while chars
            .peek()
            .is_some_and(|c| matches!(c, '-' | '+' | ' ' | '#' | '0'))
        {
            chars.next();
        }
        for _ in 0..2 {
            let mut digits = String::new();
            while let Some(digit) = chars.peek().filter(|c| c.is_ascii_digit()) {
                digits.push(*digit);
                chars.next();
            }
            if !digits.is_empty() {
                let width = digits.parse::<usize>().unwrap_or(usize::MAX);
                if width > MAX_FIELD_WIDTH {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!(
                            "format field width {} is over the limit of {MAX_FIELD_WIDTH}",
                            tideway_core::error::excerpt(&digits)
                        ),
                    ));
                }
                total = total.saturating_add(width);
            }
            if chars.peek() == Some(&'.') {
                chars.next();
            } else {
                break;
            }
        }
    }
    Ok(total)
}

fn format(state: &State, format_str: &Value, args: Rest<Value>) -> Result<Value, Error> {
    let text = format_str.as_str().unwrap_or_default();
    let arguments: usize = args.iter().map(|arg| arg.to_string().len()).sum();
    let bytes = field_widths(text)?
        .saturating_add(text.len())
        .saturating_add(arguments);
    if bytes > MAX_OUTPUT_BYTES {
        return Err(too_large("format", bytes));
    }
    minijinja::filters::format(state, format_str, args)
}

fn replace(
    state: &State,
    value: StringInput<'_>,
    from: StringInput<'_>,
    to: StringInput<'_>,
) -> Result<Value, Error> {
    let (text, pattern) = (value.as_str(), from.as_str());
    let occurrences = if pattern.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(pattern).count()
    };
    let bytes = occurrences
        .saturating_mul(to.as_str().len())
        .saturating_add(text.len());
    if bytes > MAX_OUTPUT_BYTES {
        return Err(too_large("replace", bytes));
    }
    minijinja::filters::replace(state, value, from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(body: &str) -> Result<String, Error> {
        let mut env = Environment::new();
        install(&mut env);
        env.render_str(body, ())
    }

    #[test]
    fn sizes_are_checked_before_allocating() {
        let error = render("{{ 'a'|indent(100000000000000, true) }}").expect_err("indent");
        assert!(
            error.to_string().contains("indent would produce"),
            "{error}"
        );
        let error = render("{{ '%0200000000d'|format(1) }}").expect_err("format");
        assert!(error.to_string().contains("over the limit"), "{error}");
        let error = render("{{ ('a' * 1000)|replace('a', 'b' * 2000) }}").expect_err("replace");
        assert!(
            error.to_string().contains("replace would produce"),
            "{error}"
        );
    }

    #[test]
    fn ordinary_use_is_unchanged() {
        assert_eq!(render("{{ 'a\nb'|indent(2) }}").expect("indent"), "a\n  b");
        assert_eq!(
            render("{{ 'a\nb'|indent(width=2, first=true) }}").expect("kw"),
            "  a\n  b"
        );
        assert_eq!(
            render("{{ '%05d|%.2f'|format(42, 3.14159) }}").expect("format"),
            "00042|3.14"
        );
        assert_eq!(
            render("{{ 'a-b'|replace('-', '+') }}").expect("replace"),
            "a+b"
        );
    }
}
