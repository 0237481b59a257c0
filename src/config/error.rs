//! [`ConfigError`]: why the settings cannot be loaded, worded for the
//! operator. figment's own message names the key as
//! `"default.server.listen_typo"` (its profile first) and nests backticks
//! in the list of expected fields; this names the setting as the file
//! spells it (`[server] listen_typo`) or as the environment variable
//! (`STRATA__SERVER__LISTEN_TYPO`), with the file it came from.

use std::path::PathBuf;

use figment::error::Kind;

/// Why [`Settings::load`](super::Settings::load) failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` names no file.
    #[error("config file {} does not exist", .0.display())]
    MissingFile(PathBuf),
    /// A TOML syntax error, or settings that are unknown or mistyped; one
    /// line per problem, each naming the setting and where it was read.
    #[error("{0}")]
    Invalid(String),
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        let lines: Vec<String> = error.into_iter().map(|e| describe(&e)).collect();
        Self::Invalid(lines.join("\n"))
    }
}

/// One figment error as one line.
fn describe(error: &figment::Error) -> String {
    let from_env = error
        .metadata
        .as_ref()
        .is_some_and(|m| m.name.contains("environment"));
    let place = if from_env {
        format!(
            "STRATA__{} (environment)",
            error.path.join("__").to_uppercase()
        )
    } else {
        match error.metadata.as_ref().and_then(|m| m.source.as_ref()) {
            Some(figment::Source::File(path)) => path.display().to_string(),
            _ => String::new(),
        }
    };
    let setting = setting_name(&error.path);
    let at = match (setting.is_empty(), place.is_empty()) {
        (true, true) => String::new(),
        (true, false) => place,
        (false, true) => setting,
        (false, false) if from_env => place,
        (false, false) => format!("{setting} in {place}"),
    };
    let what = match &error.kind {
        Kind::UnknownField(_, expected) => {
            return format!(
                "unknown setting {at}{}",
                one_of(expected).map_or(String::new(), |list| format!("; expected one of: {list}"))
            );
        }
        Kind::UnknownVariant(value, expected) => format!(
            "unknown value {value:?}{}",
            one_of(expected).map_or(String::new(), |list| format!("; expected one of: {list}"))
        ),
        Kind::Message(message) => message.trim_end().to_owned(),
        other => other.to_string(),
    };
    if at.is_empty() {
        what
    } else {
        format!("{at}: {what}")
    }
}

/// `[server] listen` for the path `server.listen`, `[caches.a] tiers` for
/// `caches.a.tiers`, the bare key at the top level.
fn setting_name(path: &[String]) -> String {
    match path {
        [] => String::new(),
        [key] => key.clone(),
        [table @ .., key] => format!("[{}] {key}", table.join(".")),
    }
}

/// `a, b, c`, or `None` for an empty list.
fn one_of(expected: &[&str]) -> Option<String> {
    (!expected.is_empty()).then(|| expected.join(", "))
}
