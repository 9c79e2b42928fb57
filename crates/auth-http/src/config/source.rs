//! Where settings are read from, and how a value is turned into a typed one.
//!
//! Each typed reader also records the default it applied, in the words of the configuration
//! reference: that is what lets a test hold `docs/operations.md` to the code instead of to a copy.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use auth_domain::RateLimit;
use secrecy::SecretString;

/// A setting that could not be accepted; names the variable, never echoes a secret.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &str, message: impl Into<String>) -> Self {
        Self { variable: variable.to_owned(), message: message.into() }
    }
}

/// What a reader writes down for a variable left unset that has no value of its own.
const UNSET: &str = "unset";

/// Where settings are read from: the environment first, then the AUTH_CONFIG file.
pub struct SettingsSource {
    environment: HashMap<String, String>,
    file: HashMap<String, String>,
    /// Every name asked for, so that the names set but never asked for can be reported.
    asked: RefCell<BTreeSet<String>>,
    /// The default each reader applied when its variable is unset, as the reference states it.
    defaults: RefCell<BTreeMap<String, String>>,
}

impl std::fmt::Debug for SettingsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsSource").finish_non_exhaustive()
    }
}

impl SettingsSource {
    /// The process environment, and the TOML file AUTH_CONFIG names if it is set.
    ///
    /// # Errors
    /// When AUTH_CONFIG names a file that cannot be read or parsed.
    pub fn from_process() -> Result<Self, ConfigError> {
        Self::from_os_variables(std::env::vars_os())
    }

    /// `std::env::vars` panics on the first variable that is not UTF-8, whoever set it: only our
    /// own variables must be text, and one that is not is a configuration error naming it.
    pub(crate) fn from_os_variables(
        variables: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Self, ConfigError> {
        let mut ours = Vec::new();
        for (name, value) in variables {
            let Some(name) = name.to_str().filter(|name| name.starts_with("AUTH_")) else { continue };
            let value = value.into_string().map_err(|_| ConfigError::new(name, "is not valid UTF-8"))?;
            ours.push((name.to_owned(), value));
        }
        Self::from_variables(ours)
    }

    /// The given variables, and the TOML file their AUTH_CONFIG names if any.
    ///
    /// # Errors
    /// When AUTH_CONFIG names a file that cannot be read or parsed.
    pub fn from_variables(variables: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let environment: HashMap<String, String> =
            variables.into_iter().filter(|(key, _)| key.starts_with("AUTH_")).collect();
        let file = match environment.get("AUTH_CONFIG") {
            Some(path) => read_config_file(Path::new(path))?,
            None => HashMap::new(),
        };
        let defaults = BTreeMap::from([("AUTH_CONFIG".to_owned(), UNSET.to_owned())]);
        Ok(Self { environment, file, asked: RefCell::default(), defaults: RefCell::new(defaults) })
    }

    /// The AUTH_* names set (in the environment or the file) that no setting reads: most likely
    /// misspelt, and then silently at their defaults. Meaningful after [`super::Settings::load`].
    pub fn unread_variables(&self) -> Vec<String> {
        let asked = self.asked.borrow();
        let mut unread: Vec<String> = self
            .environment
            .keys()
            .chain(self.file.keys())
            .filter(|name| name.as_str() != "AUTH_CONFIG" && !asked.contains(name.as_str()))
            // The test suites' own variables share the prefix.
            .filter(|name| !name.strip_prefix("AUTH_").is_some_and(|rest| rest.starts_with("TEST_")))
            .cloned()
            .collect();
        unread.sort();
        unread.dedup();
        unread
    }

    /// Every variable read so far and the default it takes when unset, in the words of the
    /// configuration reference (`unset`, `15m`, `value of AUTH_PUBLIC_URL`). Meaningful after
    /// [`super::Settings::load`]; `_FILE` variants are not listed.
    pub fn defaults(&self) -> BTreeMap<String, String> {
        self.defaults.borrow().clone()
    }

    fn record_default(&self, variable: &str, default: impl Into<String>) {
        self.defaults.borrow_mut().insert(variable.to_owned(), default.into());
    }

    fn lookup(&self, variable: &str) -> Option<&str> {
        self.asked.borrow_mut().insert(variable.to_owned());
        self.environment.get(variable).or_else(|| self.file.get(variable)).map(String::as_str)
    }

    /// A variable without a default value: unset is `None`.
    pub(crate) fn optional(&self, variable: &str) -> Option<&str> {
        self.record_default(variable, UNSET);
        self.lookup(variable)
    }

    /// A variable whose default is `default`, a value it could have been given.
    pub(crate) fn text(&self, variable: &str, default: &str) -> String {
        self.record_default(variable, default);
        self.lookup(variable).unwrap_or(default).to_owned()
    }

    /// A variable whose default follows from other settings or the machine; `described` is how
    /// the reference says so.
    pub(crate) fn derived(&self, variable: &str, described: &str) -> Option<&str> {
        self.record_default(variable, described);
        self.lookup(variable)
    }

    /// A secret: from the variable, or from the file that `{variable}_FILE` names (the way Docker
    /// and Kubernetes mount secrets).
    pub(crate) fn secret(&self, variable: &str) -> Result<Option<SecretString>, ConfigError> {
        self.record_default(variable, UNSET);
        if let Some(value) = self.lookup(variable) {
            return Ok(Some(SecretString::from(value.to_owned())));
        }
        let file_variable = format!("{variable}_FILE");
        match self.lookup(&file_variable) {
            None => Ok(None),
            Some(path) => std::fs::read_to_string(path)
                .map(|contents| Some(SecretString::from(contents.trim_end().to_owned())))
                .map_err(|error| ConfigError::new(&file_variable, format!("cannot read {path}: {error}"))),
        }
    }

    /// Overrides the default recorded for a secret whose absence means a value (the embedded
    /// database), not nothing.
    pub(crate) fn secret_default(&self, variable: &str, default: &str) {
        self.record_default(variable, default);
    }

    pub(crate) fn duration(&self, variable: &str, default: &str) -> Result<Duration, ConfigError> {
        let text = self.text(variable, default);
        parse_duration(&text).ok_or_else(|| duration_error(variable, &text))
    }

    pub(crate) fn optional_duration(&self, variable: &str) -> Result<Option<Duration>, ConfigError> {
        self.optional(variable)
            .map(|text| parse_duration(text).ok_or_else(|| duration_error(variable, text)))
            .transpose()
    }

    /// A whole number from `min` to `max`.
    pub(crate) fn count(&self, variable: &str, default: usize, min: usize, max: usize) -> Result<usize, ConfigError> {
        self.record_default(variable, default.to_string());
        self.count_or(variable, default, min, max)
    }

    /// A whole number whose default follows from other settings; `described` is how the
    /// reference says so.
    pub(crate) fn derived_count(
        &self,
        variable: &str,
        (default, described): (usize, &str),
        min: usize,
        max: usize,
    ) -> Result<usize, ConfigError> {
        self.record_default(variable, described);
        self.count_or(variable, default, min, max)
    }

    fn count_or(&self, variable: &str, default: usize, min: usize, max: usize) -> Result<usize, ConfigError> {
        match self.lookup(variable) {
            None => Ok(default),
            Some(text) => {
                text.trim().parse::<usize>().ok().filter(|value| (min..=max).contains(value)).ok_or_else(|| {
                    ConfigError::new(variable, format!("expected a whole number from {min} to {max}, got {text:?}"))
                })
            }
        }
    }

    pub(crate) fn flag(&self, variable: &str, default: bool) -> Result<bool, ConfigError> {
        self.record_default(variable, default.to_string());
        match self.lookup(variable).map(|text| text.trim().to_lowercase()) {
            None => Ok(default),
            Some(text) if ["true", "1", "yes", "on"].contains(&text.as_str()) => Ok(true),
            Some(text) if ["false", "0", "no", "off"].contains(&text.as_str()) => Ok(false),
            Some(text) => Err(ConfigError::new(variable, format!("expected true or false, got {text:?}"))),
        }
    }

    /// A rate limit whose default is the domain's, so that it is written down once.
    pub(crate) fn rate(&self, variable: &str, default: Option<RateLimit>) -> Result<Option<RateLimit>, ConfigError> {
        self.record_default(variable, format_rate_limit(default));
        match self.lookup(variable) {
            None => Ok(default),
            Some(text) => parse_rate_limit(text).ok_or_else(|| {
                ConfigError::new(variable, format!("expected COUNT/WINDOW such as 10/15m, or off, got {text:?}"))
            }),
        }
    }
}

fn duration_error(variable: &str, text: &str) -> ConfigError {
    ConfigError::new(
        variable,
        format!("expected a positive duration such as 15m, 30d or 10s, at most 36500d, got {text:?}"),
    )
}

/// Reads a TOML file of `KEY = value` pairs; keys may be given as `AUTH_LISTEN` or `listen`.
fn read_config_file(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigError::new("AUTH_CONFIG", format!("cannot read {}: {error}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|error| ConfigError::new("AUTH_CONFIG", format!("{} is not valid TOML: {error}", path.display())))?;
    table
        .into_iter()
        .map(|(key, value)| {
            let variable = key.to_uppercase();
            let variable = if variable.starts_with("AUTH_") { variable } else { format!("AUTH_{variable}") };
            let value = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(number) => number.to_string(),
                toml::Value::Boolean(flag) => flag.to_string(),
                other => {
                    return Err(ConfigError::new(
                        "AUTH_CONFIG",
                        format!("{key} must be a string, an integer or a boolean, not {}", other.type_str()),
                    ));
                }
            };
            Ok((variable, value))
        })
        .collect()
}

/// The longest duration any setting takes: 100 years. Lifetimes are added to the present (a
/// session's expiry, a link's) and timeouts multiplied; past this, the sum would leave the dates a
/// timestamp can hold and the service would panic at the first login instead of refusing to start.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// Parses `15m`, `30d`, `10s`, `1h`: a positive integer and a unit; also `250ms`. At most
/// [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Option<Duration> {
    parse_any_duration(text).filter(|duration| *duration <= MAX_DURATION)
}

fn parse_any_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(digits) = text.strip_suffix("ms") {
        let millis: u64 =
            digits.parse().ok().filter(|millis| *millis > 0 && digits.chars().all(|c| c.is_ascii_digit()))?;
        return Some(Duration::from_millis(millis));
    }
    let unit = text.chars().last()?;
    let seconds_per_unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let count: u64 = digits.parse().ok().filter(|count| *count > 0)?;
    count.checked_mul(seconds_per_unit).map(Duration::from_secs)
}

/// Parses `COUNT/WINDOW` (e.g. `10/15m`), or `off`.
pub fn parse_rate_limit(text: &str) -> Option<Option<RateLimit>> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Some(None);
    }
    let (count, window) = text.trim().split_once('/')?;
    let count: u32 = count.parse().ok().filter(|count| *count > 0)?;
    Some(Some(RateLimit::new(count, parse_duration(window)?)))
}

/// The text [`parse_rate_limit`] reads back as `limit`: the window in its largest whole unit.
pub fn format_rate_limit(limit: Option<RateLimit>) -> String {
    let Some(limit) = limit else { return "off".to_owned() };
    let window = limit.window;
    let text = if window.subsec_nanos() != 0 || window.as_secs() == 0 {
        format!("{}ms", window.as_millis())
    } else {
        let seconds = window.as_secs();
        let (count, unit) = [(86_400, "d"), (3600, "h"), (60, "m")]
            .into_iter()
            .find(|(size, _)| seconds % size == 0)
            .map_or((seconds, "s"), |(size, unit)| (seconds / size, unit));
        format!("{count}{unit}")
    };
    format!("{}/{text}", limit.max)
}
