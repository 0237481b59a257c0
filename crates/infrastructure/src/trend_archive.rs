//! [`FileTrendArchive`]: the trends of every cache and build-cache store
//! in one MessagePack file, `<data_dir>/trends.msgpack`, so a restart
//! keeps the history.
//!
//! The file is a map with `format` (1) and `sources`, each with its
//! `kind` (`cache` or `build_cache`), `name`, the points of each range
//! (`1h`, `24h`, `30d`: `[unix_ms, [15 values]]`, NaN for none) and the
//! annotations. Written to `trends.msgpack.tmp`, fsynced and renamed
//! over the file, off the async workers (`spawn_blocking`), so a crash
//! leaves the old or the new file. At most about 180 KiB per source.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use strata_domain::{
    Annotation, AnnotationKind, SeriesId, TrendArchive, TrendArchiveError, TrendHistory,
    TrendPoint, TrendRange, TrendSource,
};

/// The format version this build writes and reads.
const FORMAT: u32 = 1;

/// The file name under the data directory.
pub const TRENDS_FILE: &str = "trends.msgpack";

/// See the module docs.
#[derive(Clone, Debug)]
pub struct FileTrendArchive {
    path: PathBuf,
}

impl FileTrendArchive {
    /// The archive in `data_dir` ([`TRENDS_FILE`]).
    pub fn in_dir(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(TRENDS_FILE),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct FileDto {
    format: u32,
    sources: Vec<SourceDto>,
}

/// A point on file: its time and its 15 values.
type PointDto = (u64, Vec<f32>);

#[derive(Serialize, Deserialize)]
struct SourceDto {
    kind: String,
    name: String,
    ranges: Vec<(String, Vec<PointDto>)>,
    annotations: Vec<AnnotationDto>,
}

#[derive(Serialize, Deserialize)]
struct AnnotationDto {
    at_ms: u64,
    cause: String,
    summary: String,
    /// Present for an `auto` switch.
    estimates: Option<Vec<(String, f64)>>,
}

fn to_dto(source: &TrendSource, history: &TrendHistory) -> SourceDto {
    let (kind, name) = match source {
        TrendSource::Cache(name) => ("cache", name),
        TrendSource::BuildCache(name) => ("build_cache", name),
    };
    SourceDto {
        kind: kind.to_owned(),
        name: name.clone(),
        ranges: TrendRange::ALL
            .iter()
            .map(|&range| {
                (
                    range.as_str().to_owned(),
                    history
                        .points(range)
                        .map(|p| (p.at_ms, p.values.to_vec()))
                        .collect(),
                )
            })
            .collect(),
        annotations: history
            .annotations()
            .map(|a| AnnotationDto {
                at_ms: a.at_ms,
                cause: a.cause.clone(),
                summary: a.summary.clone(),
                estimates: match &a.kind {
                    AnnotationKind::AutoSwitch { estimates } => Some(estimates.clone()),
                    AnnotationKind::Configuration => None,
                },
            })
            .collect(),
    }
}

fn from_dto(dto: SourceDto) -> Option<(TrendSource, TrendHistory)> {
    let source = match dto.kind.as_str() {
        "cache" => TrendSource::Cache(dto.name),
        "build_cache" => TrendSource::BuildCache(dto.name),
        _ => return None,
    };
    let ranges = dto.ranges.into_iter().filter_map(|(range, points)| {
        let range = TrendRange::parse(&range)?;
        let points = points
            .into_iter()
            .filter_map(|(at_ms, values)| {
                Some(TrendPoint {
                    at_ms,
                    values: <[f32; SeriesId::ALL.len()]>::try_from(values).ok()?,
                })
            })
            .collect();
        Some((range, points))
    });
    let annotations = dto
        .annotations
        .into_iter()
        .map(|a| Annotation {
            at_ms: a.at_ms,
            kind: match a.estimates {
                Some(estimates) => AnnotationKind::AutoSwitch { estimates },
                None => AnnotationKind::Configuration,
            },
            cause: a.cause,
            summary: a.summary,
        })
        .collect();
    Some((source, TrendHistory::restore(ranges, annotations)))
}

fn error(what: &str, path: &Path, e: impl std::fmt::Display) -> TrendArchiveError {
    TrendArchiveError(format!("{what} {}: {e}", path.display()))
}

#[async_trait]
impl TrendArchive for FileTrendArchive {
    async fn load(&self) -> Result<Vec<(TrendSource, TrendHistory)>, TrendArchiveError> {
        let path = self.path.clone();
        let bytes = tokio::task::spawn_blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(error("cannot read", &path, e)),
        })
        .await
        .map_err(|e| error("cannot read", &self.path, e))??;
        let Some(bytes) = bytes else {
            return Ok(Vec::new());
        };
        let file: FileDto =
            rmp_serde::from_slice(&bytes).map_err(|e| error("cannot decode", &self.path, e))?;
        if file.format != FORMAT {
            return Err(error(
                "unknown format in",
                &self.path,
                format!("{} (this build reads {FORMAT})", file.format),
            ));
        }
        Ok(file.sources.into_iter().filter_map(from_dto).collect())
    }

    async fn save(
        &self,
        histories: Vec<(TrendSource, TrendHistory)>,
    ) -> Result<(), TrendArchiveError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let file = FileDto {
                format: FORMAT,
                sources: histories.iter().map(|(s, h)| to_dto(s, h)).collect(),
            };
            let bytes =
                rmp_serde::to_vec_named(&file).map_err(|e| error("cannot encode", &path, e))?;
            let tmp = path.with_extension("msgpack.tmp");
            let write = || -> std::io::Result<()> {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)
            };
            write().map_err(|e| error("cannot write", &path, e))
        })
        .await
        .map_err(|e| error("cannot write", &self.path, e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_domain::{TrendReading, TrendTotals};

    #[tokio::test]
    async fn saves_and_loads_every_range_and_annotation() {
        let dir = tempfile::tempdir().unwrap();
        let archive = FileTrendArchive::in_dir(dir.path());
        assert!(archive.load().await.unwrap().is_empty());
        let mut history = TrendHistory::default();
        for i in 0..400u64 {
            history.record(
                i * 10_000,
                &TrendReading {
                    totals: TrendTotals {
                        hits: i,
                        misses: i / 2,
                        ..Default::default()
                    },
                    entries: i,
                    bytes: 0,
                },
            );
        }
        history.annotate(Annotation {
            at_ms: 5,
            kind: AnnotationKind::AutoSwitch {
                estimates: vec![("lru".into(), 0.5)],
            },
            cause: "auto_tune".into(),
            summary: "active_policy: sieve -> lru".into(),
        });
        let source = TrendSource::Cache("sessions".into());
        archive
            .save(vec![(source.clone(), history.clone())])
            .await
            .unwrap();
        let loaded = archive.load().await.unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].0, source);
        for range in TrendRange::ALL {
            let a: Vec<_> = history.points(range).map(|p| p.at_ms).collect();
            let b: Vec<_> = loaded[0].1.points(range).map(|p| p.at_ms).collect();
            assert_eq!(a, b, "{range:?}");
        }
        let last = loaded[0].1.points(TrendRange::Hour).last().unwrap();
        assert_eq!(last.value(SeriesId::Entries), Some(399.0));
        assert_eq!(
            loaded[0].1.annotations().collect::<Vec<_>>(),
            history.annotations().collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_not_an_empty_history() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TRENDS_FILE), b"not msgpack").unwrap();
        assert!(FileTrendArchive::in_dir(dir.path()).load().await.is_err());
    }
}
