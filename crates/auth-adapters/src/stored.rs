//! Turning stored columns back into domain values, the same way for every database: a value that
//! no longer parses is corrupt data, reported as such rather than passed on.

use auth_domain::Email;
use auth_domain::user::{DisplayName, Role};

/// Parses a stored email, display name and roles.
///
/// # Errors
/// A sentence naming the column that holds something its writers could not have written.
pub(crate) fn user_fields(
    email: &str,
    display_name: Option<&str>,
    roles: &[String],
) -> Result<(Email, Option<DisplayName>, Vec<Role>), String> {
    let email = Email::parse(email).map_err(|error| format!("bad email: {error}"))?;
    let display_name = display_name
        .map(DisplayName::parse)
        .transpose()
        .map_err(|error| format!("bad display name: {}", error.message))?;
    let roles = roles
        .iter()
        .map(|role| Role::parse(role))
        .collect::<Result<_, _>>()
        .map_err(|error| format!("bad role: {error}"))?;
    Ok((email, display_name, roles))
}

/// A `LIKE` pattern that matches `text` anywhere, its own `%`, `_` and `\\` taken literally (the
/// query names `\\` as the escape character).
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_wildcards_in_the_text_are_taken_literally() {
        assert_eq!(contains_pattern("ada"), "%ada%");
        assert_eq!(contains_pattern("a_b%c\\d"), "%a\\_b\\%c\\\\d%");
    }
}
