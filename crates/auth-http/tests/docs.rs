//! The documentation describes the code as it is: the configuration reference in
//! `docs/operations.md` names exactly the AUTH_* variables `src/config.rs` and its sections in
//! `src/config/` read, with the defaults they apply, and every relative link in the Markdown
//! documents leads to a file (and heading) that exists.
//!
//! No regex crate is a dependency, so the scanning is written by hand: a small lexer for Rust
//! source (comments, strings, raw strings, char literals), and line-based Markdown parsing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// The file that holds the one configuration table, relative to the repository root.
const REFERENCE_FILE: &str = "docs/operations.md";
/// The heading the table sits under.
const REFERENCE_HEADING: &str = "## Configuration reference";

fn repository_root() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir.join("../..");
    root.canonicalize().unwrap_or(root)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

// ------------------------------------------------------------------------------------------------
// Rust source: which AUTH_* variables config.rs reads.

/// What a character of Rust source is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Code,
    Comment,
    /// The contents of a string literal (its quotes and raw-string hashes are `Code`).
    Literal,
}

fn is_identifier_char(character: char) -> bool {
    character.is_alphanumeric() || character == '_'
}

/// Classifies every character of `source`.
fn classify(source: &[char]) -> Vec<Class> {
    let mut classes = vec![Class::Code; source.len()];
    let at = |index: usize| source.get(index).copied();
    let mut index = 0;
    while index < source.len() {
        let character = source[index];
        // Line comments, doc comments included.
        if character == '/' && at(index + 1) == Some('/') {
            while index < source.len() && source[index] != '\n' {
                classes[index] = Class::Comment;
                index += 1;
            }
            continue;
        }
        // Block comments, which nest in Rust.
        if character == '/' && at(index + 1) == Some('*') {
            let mut depth = 0usize;
            while index < source.len() {
                if source[index] == '/' && at(index + 1) == Some('*') {
                    depth += 1;
                    classes[index] = Class::Comment;
                    classes[index + 1] = Class::Comment;
                    index += 2;
                } else if source[index] == '*' && at(index + 1) == Some('/') {
                    depth -= 1;
                    classes[index] = Class::Comment;
                    classes[index + 1] = Class::Comment;
                    index += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    classes[index] = Class::Comment;
                    index += 1;
                }
            }
            continue;
        }
        // Raw strings: r"...", r#"..."#, br"..." (an `r` that starts a token, not one ending a name).
        if character == 'r' {
            let before = index.checked_sub(1).map(|previous| source[previous]);
            let starts_token = match before {
                None => true,
                Some('b') => index < 2 || !is_identifier_char(source[index - 2]),
                Some(previous) => !is_identifier_char(previous),
            };
            let mut hashes = 0;
            while at(index + 1 + hashes) == Some('#') {
                hashes += 1;
            }
            if starts_token && at(index + 1 + hashes) == Some('"') {
                let mut position = index + 2 + hashes;
                loop {
                    if position >= source.len() {
                        break;
                    }
                    let closes =
                        source[position] == '"' && (1..=hashes).all(|offset| at(position + offset) == Some('#'));
                    if closes {
                        break;
                    }
                    classes[position] = Class::Literal;
                    position += 1;
                }
                index = position + 1 + hashes;
                continue;
            }
        }
        // Ordinary (and byte) strings, with escapes.
        if character == '"' {
            let mut position = index + 1;
            while position < source.len() && source[position] != '"' {
                if source[position] == '\\' {
                    classes[position] = Class::Literal;
                    position += 1;
                }
                if position < source.len() {
                    classes[position] = Class::Literal;
                    position += 1;
                }
            }
            index = position + 1;
            continue;
        }
        // Char literals ('x', '\n', '\'', '"'); anything else after a quote is a lifetime.
        if character == '\'' {
            if at(index + 1) == Some('\\') {
                // Skip the backslash and the escaped character, which may itself be a quote.
                let mut position = index + 3;
                while position < source.len() && source[position] != '\'' {
                    position += 1;
                }
                index = position + 1;
                continue;
            }
            if at(index + 2) == Some('\'') {
                index += 3;
                continue;
            }
        }
        index += 1;
    }
    classes
}

/// The character ranges of every `#[cfg(test)] mod NAME { ... }` item, found outside comments and
/// strings, braces matched the same way.
fn test_modules(source: &[char], classes: &[Class]) -> Vec<std::ops::Range<usize>> {
    let text: String = source.iter().collect();
    let attribute: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut ranges = Vec::new();
    let mut index = 0;
    while index + attribute.len() <= source.len() {
        let matches = source[index..index + attribute.len()] == attribute[..]
            && classes[index..index + attribute.len()].iter().all(|class| *class == Class::Code);
        if !matches {
            index += 1;
            continue;
        }
        let mut position = index + attribute.len();
        while position < source.len() && (source[position].is_whitespace() || classes[position] == Class::Comment) {
            position += 1;
        }
        let rest: String = text.chars().skip(position).take(4).collect();
        if rest != "mod " {
            index += 1;
            continue;
        }
        while position < source.len() && !(source[position] == '{' && classes[position] == Class::Code) {
            if source[position] == ';' && classes[position] == Class::Code {
                break; // `mod tests;`: the module lives in another file.
            }
            position += 1;
        }
        if position >= source.len() || source[position] != '{' {
            index += 1;
            continue;
        }
        let mut depth = 0usize;
        while position < source.len() {
            if classes[position] == Class::Code {
                match source[position] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            position += 1;
        }
        ranges.push(index..position + 1);
        index = position + 1;
    }
    ranges
}

fn is_variable_name(text: &str) -> bool {
    text.len() > "AUTH_".len()
        && text.starts_with("AUTH_")
        && text
            .chars()
            .all(|character| character.is_ascii_uppercase() || character.is_ascii_digit() || character == '_')
}

/// The variables a configuration source reads: every string literal outside comments and test
/// modules that is exactly an AUTH_* name, and, of those, the ones passed to `secret(...)` (which
/// also accept `{NAME}_FILE`).
#[derive(Debug, Default, PartialEq, Eq)]
struct VariablesRead {
    all: BTreeSet<String>,
    secrets: BTreeSet<String>,
}

fn variables_read(source: &str) -> VariablesRead {
    let characters: Vec<char> = source.chars().collect();
    let classes = classify(&characters);
    let excluded = test_modules(&characters, &classes);
    let mut read = VariablesRead::default();
    let mut index = 0;
    while index < characters.len() {
        if classes[index] != Class::Literal || excluded.iter().any(|range| range.contains(&index)) {
            index += 1;
            continue;
        }
        let start = index;
        while index < characters.len() && classes[index] == Class::Literal {
            index += 1;
        }
        let literal: String = characters[start..index].iter().collect();
        if !is_variable_name(&literal) {
            continue;
        }
        // The code just before the opening quote, to tell `secret("AUTH_...")` apart.
        let quote = start.saturating_sub(1);
        let before: String = characters[quote.saturating_sub(40)..quote].iter().collect();
        if before.trim_end().ends_with("secret(") {
            read.secrets.insert(literal.clone());
        }
        read.all.insert(literal);
    }
    read
}

// ------------------------------------------------------------------------------------------------
// Markdown: the configuration table, links and headings.

/// The lines of a Markdown document that are not inside fenced code blocks, with their numbers.
fn prose_lines(markdown: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (number, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match fence {
            Some(marker) => {
                if trimmed.starts_with(marker) {
                    fence = None;
                }
            }
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            None => lines.push((number + 1, line)),
        }
    }
    lines
}

/// The cells of a table row, trimmed (`| a | b |` gives `a`, `b`).
fn table_cells(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim).collect()
}

/// Every AUTH_* name in a cell: maximal runs of `[A-Z0-9_]` that are names, so that grouped cells
/// (`AUTH_A, AUTH_B`, `AUTH_A / AUTH_B`, with or without backticks) give each name.
fn names_in(cell: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut current = String::new();
    for character in cell.chars().chain(std::iter::once(' ')) {
        if character.is_ascii_uppercase() || character.is_ascii_digit() || character == '_' {
            current.push(character);
        } else {
            if is_variable_name(&current) {
                names.push(current.clone());
            }
            current.clear();
        }
    }
    names
}

/// The variables of the configuration table: the first table under `heading`, whose header's first
/// cell is `variable`, read from its first column.
fn table_variables(markdown: &str, heading: &str) -> Result<BTreeSet<String>, String> {
    let lines = prose_lines(markdown);
    let start =
        lines.iter().position(|(_, line)| line.trim() == heading).ok_or_else(|| format!("no heading {heading:?}"))?;
    let mut rows = lines[start + 1..]
        .iter()
        .skip_while(|(_, line)| !line.trim_start().starts_with('|'))
        .take_while(|(_, line)| line.trim_start().starts_with('|'));
    let (_, header) = rows.next().ok_or_else(|| format!("no table under {heading:?}"))?;
    let first = table_cells(header).first().copied().unwrap_or_default().to_lowercase();
    if first != "variable" {
        return Err(format!("the first table under {heading:?} starts with {first:?}, not \"variable\""));
    }
    let mut variables = BTreeSet::new();
    for (_, row) in rows.skip(1) {
        if let Some(cell) = table_cells(row).first() {
            variables.extend(names_in(cell));
        }
    }
    Ok(variables)
}

/// How many tables of a document have `variable` as their first header cell: configuration tables.
fn configuration_tables(markdown: &str) -> usize {
    let lines = prose_lines(markdown);
    let mut count = 0;
    let mut previous_was_table = false;
    for (_, line) in lines {
        let is_table = line.trim_start().starts_with('|');
        if is_table && !previous_was_table {
            let first = table_cells(line).first().copied().unwrap_or_default().to_lowercase();
            if first == "variable" {
                count += 1;
            }
        }
        previous_was_table = is_table;
    }
    count
}

/// A line with its inline code spans blanked out, so that `[a](b)` in code is not a link.
fn without_code_spans(line: &str) -> String {
    let characters: Vec<char> = line.chars().collect();
    let mut output = String::new();
    let mut index = 0;
    while index < characters.len() {
        if characters[index] != '`' {
            output.push(characters[index]);
            index += 1;
            continue;
        }
        let mut run = 0;
        while index + run < characters.len() && characters[index + run] == '`' {
            run += 1;
        }
        // Find the closing run of the same length; without one, the backticks are literal.
        let mut position = index + run;
        let mut close = None;
        while position < characters.len() {
            if characters[position] == '`' {
                let mut other = 0;
                while position + other < characters.len() && characters[position + other] == '`' {
                    other += 1;
                }
                if other == run {
                    close = Some(position);
                    break;
                }
                position += other;
            } else {
                position += 1;
            }
        }
        match close {
            Some(close) => {
                output.push(' ');
                index = close + run;
            }
            None => {
                output.extend(std::iter::repeat_n('`', run));
                index += run;
            }
        }
    }
    output
}

/// The link targets of a line: inline links and images `[text](target "title")`, and reference
/// definitions `[label]: target`.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let trimmed = line.trim_start();
    // A reference definition: the line's first `]` closes the label and is followed by `:`.
    if let Some(label_end) = trimmed.strip_prefix('[').and_then(|rest| rest.find(']'))
        && let Some(definition) = trimmed[label_end + 2..].strip_prefix(':')
    {
        let target = definition.split_whitespace().next().unwrap_or_default();
        targets.push(target.trim_start_matches('<').trim_end_matches('>').to_owned());
        return targets;
    }
    let mut rest = line.as_str();
    while let Some(open) = rest.find("](") {
        let after = &rest[open + 2..];
        let target = if let Some(angled) = after.strip_prefix('<') {
            angled.split('>').next().unwrap_or_default()
        } else {
            let end = after.find([')', ' ']).unwrap_or(after.len());
            &after[..end]
        };
        targets.push(target.to_owned());
        rest = after;
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation dropped (but `-` and `_`), spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|character| match character {
            ' ' => Some('-'),
            '-' | '_' => Some(character),
            other if other.is_alphanumeric() => Some(other),
            _ => None,
        })
        .collect()
}

/// The anchors of a document's headings, with GitHub's `-1`, `-2` suffixes for repeats.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    for (_, line) in prose_lines(markdown) {
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|character| *character == '#').count();
        if level == 0 || level > 6 || !trimmed[level..].starts_with(' ') {
            continue;
        }
        let base = slug(&trimmed[level..]);
        let count = seen.entry(base.clone()).or_insert(0);
        anchors.insert(if *count == 0 { base.clone() } else { format!("{base}-{count}") });
        *count += 1;
    }
    anchors
}

/// `path` with `.` and `..` resolved lexically (the target may not exist).
fn normalise(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut output = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%' && index + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[index + 1..index + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            output.push(byte);
            index += 3;
            continue;
        }
        output.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&output).into_owned()
}

/// Every broken relative link of the document at `path` (inside `root`), and every one that leaves
/// the repository: the documentation stands alone, a clone has nothing beside it.
fn broken_links(root: &Path, path: &Path, markdown: &str) -> Vec<String> {
    let mut broken = Vec::new();
    let folder = path.parent().unwrap_or(root);
    let shown = path.strip_prefix(root).unwrap_or(path).display().to_string();
    for (number, line) in prose_lines(markdown) {
        for target in link_targets(line) {
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target.as_str(), None),
            };
            let resolved =
                if file.is_empty() { path.to_owned() } else { normalise(&folder.join(percent_decoded(file))) };
            if !resolved.starts_with(root) {
                broken.push(format!("{shown}:{number}: {target}: outside the repository"));
                continue;
            }
            if !resolved.exists() {
                broken.push(format!("{shown}:{number}: {target}: no such file"));
                continue;
            }
            let Some(fragment) = fragment.filter(|fragment| !fragment.is_empty()) else { continue };
            if resolved.extension().is_some_and(|extension| extension == "md")
                && !anchors(&read(&resolved)).contains(fragment)
            {
                broken.push(format!("{shown}:{number}: {target}: no heading with the anchor #{fragment}"));
            }
        }
    }
    broken
}

/// The documents whose links are checked: docs/*.md, README.md and ARCHITECTURE.md.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut documents: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "md"))
        .collect();
    documents.sort();
    documents.push(root.join("README.md"));
    documents.push(root.join("ARCHITECTURE.md"));
    documents
}

// ------------------------------------------------------------------------------------------------
// The checks.

/// `src/config.rs` and the section files of `src/config/`.
fn configuration_sources(root: &Path) -> Vec<PathBuf> {
    let folder = root.join("crates/auth-http/src/config");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", folder.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .collect();
    sources.push(root.join("crates/auth-http/src/config.rs"));
    sources.sort();
    sources
}

#[test]
fn the_configuration_reference_lists_exactly_the_variables_config_rs_reads() {
    let root = repository_root();
    let mut code = VariablesRead::default();
    for source in configuration_sources(&root) {
        let read = variables_read(&read(&source));
        code.all.extend(read.all);
        code.secrets.extend(read.secrets);
    }
    assert!(
        code.all.contains("AUTH_LISTEN") && code.all.contains("AUTH_DATABASE_URL") && code.all.len() >= 10,
        "the scan of config.rs found too little to be right: {:?}",
        code.all
    );
    let table = table_variables(&read(&root.join(REFERENCE_FILE)), REFERENCE_HEADING)
        .unwrap_or_else(|problem| panic!("{REFERENCE_FILE}: {problem}"));

    // `{SECRET}_FILE` is documented once, generically; a table row may still name one, as long as
    // its secret really is read through `secret(...)`.
    let file_variants: BTreeSet<String> =
        table.iter().filter(|name| name.ends_with("_FILE") && !code.all.contains(*name)).cloned().collect();
    let bad_file_variants: Vec<&String> =
        file_variants.iter().filter(|name| !code.secrets.contains(name.trim_end_matches("_FILE"))).collect();
    let documented: BTreeSet<String> = table.difference(&file_variants).cloned().collect();

    let undocumented: Vec<&String> = code.all.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&code.all).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty() && bad_file_variants.is_empty(),
        "{REFERENCE_FILE} ({REFERENCE_HEADING}) and crates/auth-http/src/config.rs disagree:\n\
         read by config.rs but missing from the table: {undocumented:?}\n\
         in the table but not read by config.rs: {unknown:?}\n\
         _FILE variants of variables that are not secrets: {bad_file_variants:?}"
    );
}

/// The defaults column of the configuration table, by variable: a grouped row (`AUTH_A, AUTH_B |
/// 1, 2` or `AUTH_A / AUTH_B | 1 / 2`) gives each name its own default. Backticks are dropped.
fn table_defaults(markdown: &str, heading: &str) -> Result<BTreeMap<String, String>, String> {
    let lines = prose_lines(markdown);
    let start =
        lines.iter().position(|(_, line)| line.trim() == heading).ok_or_else(|| format!("no heading {heading:?}"))?;
    let rows = lines[start + 1..]
        .iter()
        .skip_while(|(_, line)| !line.trim_start().starts_with('|'))
        .take_while(|(_, line)| line.trim_start().starts_with('|'))
        .skip(2);
    let mut defaults = BTreeMap::new();
    for (number, row) in rows {
        let cells = table_cells(row);
        let names = names_in(cells.first().copied().unwrap_or_default());
        let cell = cells.get(1).copied().unwrap_or_default().replace('`', "");
        let values: Vec<String> = if names.len() < 2 {
            vec![cell]
        } else if cell.contains(" / ") {
            cell.split(" / ").map(|value| value.trim().to_owned()).collect()
        } else {
            cell.split(", ").map(|value| value.trim().to_owned()).collect()
        };
        if values.len() != names.len() {
            return Err(format!("line {number}: {} names but {} defaults", names.len(), values.len()));
        }
        defaults.extend(names.into_iter().zip(values));
    }
    Ok(defaults)
}

#[test]
fn the_configuration_reference_states_the_defaults_the_code_applies() {
    use auth_http::config::{Settings, SettingsSource};
    let root = repository_root();
    let documented = table_defaults(&read(&root.join(REFERENCE_FILE)), REFERENCE_HEADING)
        .unwrap_or_else(|problem| panic!("{REFERENCE_FILE}: {problem}"));
    // Some variables are read only beside another (AUTH_REDIS_PREFIX with AUTH_REDIS_URL).
    let mut applied = BTreeMap::new();
    for variables in [vec![], vec![("AUTH_REDIS_URL", "redis://cache:6379")]] {
        let source = SettingsSource::from_variables(
            variables.into_iter().map(|(name, value)| (name.to_owned(), value.to_owned())),
        )
        .expect("a source");
        Settings::load(&source).expect("the defaults are valid");
        applied.extend(source.defaults());
    }
    assert!(applied.len() >= 40, "too few defaults recorded to be right: {applied:?}");
    let disagreements: Vec<String> = applied
        .iter()
        .filter(|(name, default)| documented.get(*name) != Some(*default))
        .map(|(name, default)| {
            format!("{name}: the code applies {default:?}, {REFERENCE_FILE} says {:?}", documented.get(name))
        })
        .collect();
    assert!(disagreements.is_empty(), "defaults disagree:\n{}", disagreements.join("\n"));
}

#[test]
fn the_defaults_scan_splits_grouped_rows() {
    let markdown = "\
## Configuration reference

| variable | default | meaning |
|---|---|---|
| AUTH_ONE | `a, b` | one value with a comma |
| AUTH_TWO, AUTH_THREE | 2, 3 | grouped |
| AUTH_FOUR / AUTH_FIVE | 4 / 5 | slashed |
";
    let defaults = table_defaults(markdown, "## Configuration reference").expect("a table");
    let defaults: Vec<(&str, &str)> = defaults.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    assert_eq!(
        defaults,
        [("AUTH_FIVE", "5"), ("AUTH_FOUR", "4"), ("AUTH_ONE", "a, b"), ("AUTH_THREE", "3"), ("AUTH_TWO", "2")]
    );
}

#[test]
fn exactly_one_document_holds_a_configuration_table() {
    let root = repository_root();
    let holders: Vec<String> = documents(&root)
        .iter()
        .filter(|path| configuration_tables(&read(path)) > 0)
        .map(|path| path.strip_prefix(&root).unwrap_or(path).display().to_string())
        .collect();
    assert_eq!(
        holders,
        vec![REFERENCE_FILE.to_owned()],
        "the configuration table (first column `variable`) must live in {REFERENCE_FILE} only; link to it instead"
    );
}

#[test]
fn every_relative_link_in_the_documentation_leads_somewhere() {
    let root = repository_root();
    let documents = documents(&root);
    assert!(documents.len() > 3, "too few documents found: {documents:?}");
    let broken: Vec<String> = documents.iter().flat_map(|path| broken_links(&root, path, &read(path))).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

// ------------------------------------------------------------------------------------------------
// The scanners themselves: a scanner that finds nothing would make the checks above pass.

#[test]
fn the_source_scan_reads_literals_only_outside_comments_and_test_modules() {
    let source = r####"
        //! Reads AUTH_IN_A_DOC_COMMENT.
        // source.get("AUTH_IN_A_COMMENT")
        /* "AUTH_IN_A_BLOCK" /* nested "AUTH_NESTED" */ still "AUTH_STILL_COMMENT" */
        fn load(source: &Source) {
            source.get("AUTH_READ");
            source.secret( "AUTH_SECRET" );
            let quote = '"';
            let escaped = '\'';
            let text: &'static str = "AUTH_AFTER_CHARS";
            let raw = r#"AUTH_RAW"#;
            let sentence = "set AUTH_IN_A_SENTENCE first";
            let escape = "a \" AUTH_NOT_WHOLE";
            let prefix = "AUTH_";
        }
        #[cfg(test)]
        mod tests {
            fn case() { let _ = ("AUTH_ONLY_IN_TESTS", "}", '}'); }
        }
        fn after() { let _ = "AUTH_AFTER_TESTS"; }
    "####;
    let read = variables_read(source);
    let all: Vec<&str> = read.all.iter().map(String::as_str).collect();
    assert_eq!(all, ["AUTH_AFTER_CHARS", "AUTH_AFTER_TESTS", "AUTH_RAW", "AUTH_READ", "AUTH_SECRET"]);
    let secrets: Vec<&str> = read.secrets.iter().map(String::as_str).collect();
    assert_eq!(secrets, ["AUTH_SECRET"]);
}

#[test]
fn the_table_scan_expands_grouped_rows_and_stops_at_the_table_end() {
    let markdown = "\
# Title

| variable | default |
|---|---|
| AUTH_BEFORE_THE_HEADING | x |

## Configuration reference

Some prose.

| variable | default | meaning |
|---|---|---|
| AUTH_ONE | 1 | one |
| `AUTH_TWO`, AUTH_THREE | 2, 3 | grouped |
| AUTH_FOUR / AUTH_FIVE | 4 / 5 | slashed; AUTH_IN_THE_MEANING is not counted |

| AUTH_NEXT_TABLE | x |
";
    let variables = table_variables(markdown, "## Configuration reference").expect("a table");
    let variables: Vec<&str> = variables.iter().map(String::as_str).collect();
    assert_eq!(variables, ["AUTH_FIVE", "AUTH_FOUR", "AUTH_ONE", "AUTH_THREE", "AUTH_TWO"]);
    assert_eq!(configuration_tables(markdown), 2);
    assert!(
        table_variables("## Configuration reference\n\n| key | x |\n|---|---|\n", "## Configuration reference")
            .is_err()
    );
}

#[test]
fn the_link_scan_finds_links_and_anchors_but_not_code() {
    let line = "See [ops](operations.md#runbooks), ![img](a.png \"t\") and `[not](a-link.md)`, [x](<b c.md>).";
    assert_eq!(link_targets(line), ["operations.md#runbooks", "a.png", "b c.md"]);
    assert_eq!(link_targets("[label]: docs/flows.md \"title\""), ["docs/flows.md"]);
    let markdown = "# Operations\n\n## How `.ci/validate-deploy` checks them\n\n```\n## Not a heading\n```\n## Runbooks\n## Runbooks\n";
    let found = anchors(markdown);
    assert!(found.contains("how-civalidate-deploy-checks-them"), "{found:?}");
    assert!(found.contains("runbooks") && found.contains("runbooks-1"), "{found:?}");
    assert!(!found.contains("not-a-heading"), "{found:?}");
    assert_eq!(normalise(Path::new("/r/docs/../README.md")), PathBuf::from("/r/README.md"));
}
