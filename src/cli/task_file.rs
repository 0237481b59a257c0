//! `strata.tasks.toml` (the project's tasks) and the global settings of
//! `strata run` (`$XDG_CONFIG_HOME/strata/tasks.toml`, `STRATA_*`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use strata_domain::tasks::{CacheMode, EnvFilter, EnvPreset, TaskCommand, TaskName, TaskSpec};
use strata_infrastructure::tasks::InputScanner;
use toml::Spanned;

/// The project's task file name.
pub(crate) const TASK_FILE: &str = "strata.tasks.toml";

/// Default local cache size: 10 GiB.
const DEFAULT_MAX_SIZE: u64 = 10 << 30;
/// Default remote request timeout, in seconds.
const DEFAULT_REMOTE_TIMEOUT_SECS: u64 = 10;
/// Default number of concurrent uploads.
const DEFAULT_MAX_CONCURRENT: usize = 8;
/// Default largest uploaded output: 100 MiB.
const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 << 20;

/// A task file error, naming the file, line and key.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub(crate) struct TaskFileError {
    file: String,
    line: usize,
    message: String,
}

fn line_of(text: &str, span: Option<Range<usize>>) -> usize {
    span.map_or(1, |s| {
        text[..s.start.min(text.len())].matches('\n').count() + 1
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tasks: BTreeMap<String, RawTask>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    command: Option<Spanned<String>>,
    args: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    inputs: Vec<Spanned<String>>,
    #[serde(default)]
    ignore_inputs: Vec<Spanned<String>>,
    #[serde(default)]
    outputs: Vec<String>,
    #[serde(default)]
    env: RawEnv,
    env_preset: Option<Spanned<String>>,
    cache: Option<bool>,
    mode: Option<Spanned<String>>,
    #[serde(default)]
    cache_key: BTreeMap<String, String>,
    timeout_secs: Option<u64>,
    cache_failures: Option<bool>,
}

/// Parses a preset name, or explains the valid ones.
pub(crate) fn parse_preset(s: &str) -> Result<EnvPreset, String> {
    EnvPreset::parse(s).ok_or_else(|| {
        format!(
            "unknown environment preset {s:?} (expected one of {})",
            EnvPreset::NAMES.join(", ")
        )
    })
}

/// The environment settings every task starts from: the preset
/// (`env_preset`, `STRATA_ENV_PRESET`) and the global `env` patterns
/// (`STRATA_ENV_INCLUDE`, `STRATA_ENV_EXCLUDE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EnvSettings {
    pub(crate) preset: EnvPreset,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl EnvSettings {
    /// The filter of a task: `preset` (the task's own `env_preset`, else
    /// the global one), then the global patterns, then the task's.
    pub(crate) fn filter(
        &self,
        preset: Option<EnvPreset>,
        include: Vec<String>,
        exclude: Vec<String>,
    ) -> EnvFilter {
        let mut f = EnvFilter::preset(preset.unwrap_or(self.preset));
        f.extend(self.include.iter().cloned(), self.exclude.iter().cloned());
        f.extend(include, exclude);
        f
    }
}

/// A parsed task file: its tasks by name.
#[derive(Debug)]
pub(crate) struct TaskFile {
    pub(crate) tasks: BTreeMap<String, TaskSpec>,
}

/// Parses a mode name, or explains the valid ones.
pub(crate) fn parse_mode(s: &str) -> Result<CacheMode, String> {
    CacheMode::parse(s).ok_or_else(|| {
        format!(
            "unknown mode {s:?} (expected one of {})",
            CacheMode::NAMES.join(", ")
        )
    })
}

impl TaskFile {
    /// Parses `text` (read from `path`); `base` is the environment
    /// settings every task starts from, `default_mode` the mode of tasks
    /// naming none.
    pub(crate) fn parse(
        path: &Path,
        text: &str,
        base: &EnvSettings,
        default_mode: CacheMode,
    ) -> Result<Self, TaskFileError> {
        let file = path.display().to_string();
        let err = |span: Option<Range<usize>>, message: String| TaskFileError {
            file: file.clone(),
            line: line_of(text, span),
            message,
        };
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| err(e.span(), e.message().replace('\n', " ").trim().to_owned()))?;
        let mut tasks = BTreeMap::new();
        for (name, t) in raw.tasks {
            let key = |k: &str| format!("tasks.{name}.{k}");
            let header = text
                .find(&format!("[tasks.{name}]"))
                .map(|start| start..start + 1);
            let task_name = TaskName::parse(&name)
                .map_err(|e| err(header.clone(), format!("tasks.{name}: {e}")))?;
            let command = match (t.command, t.args) {
                (Some(c), None) => TaskCommand::Shell(c.into_inner()),
                (None, Some(a)) if !a.get_ref().is_empty() => TaskCommand::Args(a.into_inner()),
                (None, Some(a)) => {
                    return Err(err(
                        Some(a.span()),
                        format!("{}: must not be empty", key("args")),
                    ));
                }
                (Some(c), Some(_)) => {
                    return Err(err(
                        Some(c.span()),
                        format!("{}: set command or args, not both", key("command")),
                    ));
                }
                (None, None) => {
                    return Err(err(
                        header,
                        format!("tasks.{name}: missing key command (or args)"),
                    ));
                }
            };
            for (k, globs) in [("inputs", &t.inputs), ("ignore_inputs", &t.ignore_inputs)] {
                for g in globs {
                    InputScanner::check_glob(g.get_ref())
                        .map_err(|e| err(Some(g.span()), format!("{}: {e}", key(k))))?;
                }
            }
            let mode = match t.mode {
                None => default_mode,
                Some(m) => parse_mode(m.get_ref())
                    .map_err(|e| err(Some(m.span()), format!("{}: {e}", key("mode"))))?,
            };
            let preset = match t.env_preset {
                None => None,
                Some(p) => Some(
                    parse_preset(p.get_ref())
                        .map_err(|e| err(Some(p.span()), format!("{}: {e}", key("env_preset"))))?,
                ),
            };
            let env = base.filter(preset, t.env.include, t.env.exclude);
            tasks.insert(
                name,
                TaskSpec {
                    name: task_name,
                    command,
                    inputs: t.inputs.into_iter().map(Spanned::into_inner).collect(),
                    ignore_inputs: t
                        .ignore_inputs
                        .into_iter()
                        .map(Spanned::into_inner)
                        .collect(),
                    outputs: t.outputs,
                    env,
                    cache: t.cache.unwrap_or(true),
                    mode,
                    cache_key: t.cache_key,
                    timeout_secs: t.timeout_secs,
                    cache_failures: t.cache_failures.unwrap_or(false),
                },
            );
        }
        Ok(Self { tasks })
    }
}

/// The nearest `strata.tasks.toml` in `start` or a parent directory.
pub(crate) fn find_task_file(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(TASK_FILE))
        .find(|p| p.is_file())
}

/// `[remote]` of the global settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemoteSettings {
    pub(crate) url: String,
    pub(crate) token: Option<String>,
    pub(crate) upload: bool,
    pub(crate) download: bool,
    pub(crate) max_concurrent: usize,
    pub(crate) timeout_secs: u64,
    pub(crate) max_upload_bytes: u64,
}

/// The global settings of `strata run`.
#[derive(Clone, Debug)]
pub(crate) struct GlobalSettings {
    pub(crate) cache_dir: PathBuf,
    pub(crate) max_size: u64,
    pub(crate) default_mode: CacheMode,
    pub(crate) env: EnvSettings,
    pub(crate) remote: Option<RemoteSettings>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRemote {
    url: Option<String>,
    token: Option<String>,
    upload: Option<bool>,
    download: Option<bool>,
    max_concurrent: Option<usize>,
    timeout_secs: Option<u64>,
    max_upload_bytes: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    cache_dir: Option<PathBuf>,
    max_size: Option<Spanned<toml::Value>>,
    default_mode: Option<Spanned<String>>,
    #[serde(default)]
    env: RawEnv,
    env_preset: Option<Spanned<String>>,
    remote: Option<RawRemote>,
}

/// Parses `10GiB`, `512MiB`, `64KiB`, `1GB` or a plain number of bytes.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        u => {
            return Err(format!(
                "unknown size unit {u:?} in {s:?} (B, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} overflows"))
}

fn size_value(v: &toml::Value) -> Result<u64, String> {
    match v {
        toml::Value::Integer(i) => u64::try_from(*i).map_err(|_| "a size is not negative".into()),
        toml::Value::String(s) => parse_size(s),
        _ => Err("a size is a number of bytes or a string such as \"10GiB\"".into()),
    }
}

fn env_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => anyhow::bail!("{name}: expected true or false, got {value:?}"),
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl GlobalSettings {
    /// The global settings file: `$XDG_CONFIG_HOME/strata/tasks.toml`
    /// (default `~/.config/strata/tasks.toml`).
    pub(crate) fn path(env: &BTreeMap<String, String>) -> Option<PathBuf> {
        env.get("XDG_CONFIG_HOME")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".config")))
            .map(|d| d.join("strata").join("tasks.toml"))
    }

    /// Reads the file (when present), then the `STRATA_*` variables of
    /// `env` over it.
    pub(crate) fn load(env: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let path = Self::path(env);
        let (raw, text, file) = match &path {
            Some(p) if p.is_file() => {
                let text = std::fs::read_to_string(p)?;
                let raw: RawGlobal = toml::from_str(&text).map_err(|e| {
                    anyhow::anyhow!(
                        "{}:{}: {}",
                        p.display(),
                        line_of(&text, e.span()),
                        e.message().trim()
                    )
                })?;
                (raw, text, p.display().to_string())
            }
            _ => (RawGlobal::default(), String::new(), String::new()),
        };
        let at = |span: Range<usize>, msg: String| {
            anyhow::anyhow!("{file}:{}: {msg}", line_of(&text, Some(span)))
        };
        let mut s = Self {
            cache_dir: raw.cache_dir.unwrap_or_else(|| {
                env.get("XDG_CACHE_HOME")
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".cache")))
                    .unwrap_or_else(std::env::temp_dir)
                    .join("strata")
            }),
            max_size: match raw.max_size {
                None => DEFAULT_MAX_SIZE,
                Some(v) => {
                    size_value(v.get_ref()).map_err(|e| at(v.span(), format!("max_size: {e}")))?
                }
            },
            default_mode: match raw.default_mode {
                None => CacheMode::ReadWrite,
                Some(m) => parse_mode(m.get_ref())
                    .map_err(|e| at(m.span(), format!("default_mode: {e}")))?,
            },
            env: EnvSettings {
                preset: match raw.env_preset {
                    None => EnvPreset::Default,
                    Some(p) => parse_preset(p.get_ref())
                        .map_err(|e| at(p.span(), format!("env_preset: {e}")))?,
                },
                include: raw.env.include,
                exclude: raw.env.exclude,
            },
            remote: None,
        };
        let r = raw.remote.unwrap_or_default();
        let mut remote = RemoteSettings {
            url: r.url.unwrap_or_default(),
            token: r.token,
            upload: r.upload.unwrap_or(true),
            download: r.download.unwrap_or(true),
            max_concurrent: r.max_concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT),
            timeout_secs: r.timeout_secs.unwrap_or(DEFAULT_REMOTE_TIMEOUT_SECS),
            max_upload_bytes: match r.max_upload_bytes {
                None => DEFAULT_MAX_UPLOAD_BYTES,
                Some(v) => size_value(v.get_ref())
                    .map_err(|e| at(v.span(), format!("remote.max_upload_bytes: {e}")))?,
            },
        };
        for (name, value) in env.range("STRATA_".to_owned()..) {
            if !name.starts_with("STRATA_") {
                break;
            }
            let v = value.as_str();
            match name.as_str() {
                "STRATA_CACHE_DIR" => s.cache_dir = PathBuf::from(v),
                "STRATA_MAX_SIZE" => {
                    s.max_size = parse_size(v).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                }
                "STRATA_DEFAULT_MODE" => {
                    s.default_mode = parse_mode(v).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                }
                "STRATA_ENV_INCLUDE" => s.env.include.extend(list(v)),
                "STRATA_ENV_EXCLUDE" => s.env.exclude.extend(list(v)),
                "STRATA_ENV_PRESET" => {
                    s.env.preset = parse_preset(v).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                }
                "STRATA_REMOTE_URL" => remote.url = v.to_owned(),
                "STRATA_TOKEN" | "STRATA_REMOTE_TOKEN" => remote.token = Some(v.to_owned()),
                "STRATA_REMOTE_UPLOAD" => remote.upload = env_bool(name, v)?,
                "STRATA_REMOTE_DOWNLOAD" => remote.download = env_bool(name, v)?,
                "STRATA_REMOTE_MAX_CONCURRENT" => remote.max_concurrent = v.parse()?,
                "STRATA_REMOTE_TIMEOUT_SECS" => remote.timeout_secs = v.parse()?,
                "STRATA_REMOTE_MAX_UPLOAD_BYTES" => {
                    remote.max_upload_bytes =
                        parse_size(v).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                }
                _ => {}
            }
        }
        if !remote.url.is_empty() {
            s.remote = Some(remote);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TaskFile, TaskFileError> {
        TaskFile::parse(
            Path::new("p/strata.tasks.toml"),
            text,
            &EnvSettings::default(),
            CacheMode::ReadWrite,
        )
    }

    #[test]
    fn the_issue_example_parses() {
        let f = parse(
            r#"
[tasks.build]
command = "cargo build --release"
inputs = ["src/**/*.rs", "Cargo.toml", "Cargo.lock"]
ignore_inputs = ["**/*.tmp"]
outputs = ["target/release/app"]
env = { include = ["RUST*"], exclude = ["RUST_LOG"] }
cache = true
mode = "read-write"
cache_key = { extra = "v2" }
timeout_secs = 600

[tasks.gen]
args = ["make", "-j4"]
mode = "read"
"#,
        )
        .unwrap();
        let b = &f.tasks["build"];
        assert_eq!(
            b.command,
            TaskCommand::Shell("cargo build --release".into())
        );
        assert!(b.env.selects("RUSTFLAGS") && !b.env.selects("RUST_LOG"));
        assert_eq!(b.cache_key["extra"], "v2");
        assert_eq!(f.tasks["gen"].mode, CacheMode::Read);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse("[tasks.a]\ncommand = \"x\"\ncolour = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p/strata.tasks.toml:3:"), "{e}");
        assert!(e.contains("colour"), "{e}");
        let e = parse("[tasks.a]\ncommand = \"x\"\n\nmode = \"fast\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p/strata.tasks.toml:4:"), "{e}");
        assert!(e.contains("tasks.a.mode") && e.contains("fast"), "{e}");
        let e = parse("[tasks.a]\ncommand = \"x\"\ninputs = [\"ok/**\",\n  \"src/[a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p/strata.tasks.toml:4:"), "{e}");
        assert!(e.contains("tasks.a.inputs"), "{e}");
        let e = parse("[tasks.a]\ninputs = []\n").unwrap_err().to_string();
        assert!(e.contains("command"), "{e}");
    }

    #[test]
    fn env_preset_per_task_over_the_global_one() {
        let f = parse(
            "[tasks.a]\ncommand = \"x\"\nenv_preset = \"portable\"\nenv = { include = [\"CC\"] }\n[tasks.b]\ncommand = \"x\"\n",
        )
        .unwrap();
        let a = &f.tasks["a"].env;
        assert!(a.selects("CC") && a.selects("LANG") && !a.selects("PATH") && !a.selects("HOME"));
        assert!(
            f.tasks["b"].env.selects("HOME"),
            "the global preset: default"
        );
        let e = parse("[tasks.a]\ncommand = \"x\"\nenv_preset = \"shared\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p/strata.tasks.toml:3:"), "{e}");
        assert!(
            e.contains("tasks.a.env_preset") && e.contains("portable"),
            "{e}"
        );
        let env: BTreeMap<String, String> = [
            ("STRATA_ENV_PRESET".to_owned(), "portable".to_owned()),
            ("HOME".to_owned(), "/nonexistent-strata-home".to_owned()),
        ]
        .into();
        let g = GlobalSettings::load(&env).unwrap();
        assert_eq!(g.env.preset, EnvPreset::Portable);
        assert!(!g.env.filter(None, vec![], vec![]).selects("HOME"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("5 parsecs").is_err());
    }
}
