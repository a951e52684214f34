//! Upkeep of a lake's files: compacting a table's small files into fewer large ones
//! (optimize), deleting the files only versions past the retention period still read
//! (vacuum, which ends time travel to those versions), and deleting the staging
//! files a writer killed mid-write leaves on a local disk (`part-….parquet#1`: the
//! write goes to such a file and is renamed when whole, so a leftover is never part
//! of a table).

use std::{
    path::Path,
    time::{Duration, SystemTime},
};

use serde::Serialize;

use crate::{Lake, LakeError, TableRef};

/// What a maintenance run did to one table.
#[derive(Clone, Debug, Serialize)]
pub struct Maintained {
    pub table: String,
    /// The table's version afterwards.
    pub version: u64,
    /// Small files optimize folded into larger ones (0 on a dry run).
    pub files_compacted: u64,
    /// The larger files optimize wrote.
    pub files_written: u64,
    /// Files vacuum deleted, or would delete on a dry run.
    pub files_vacuumed: usize,
    pub dry_run: bool,
}

impl Lake {
    /// Optimizes `table` (unless `dry_run`), then vacuums the files no version newer
    /// than `retention` ago reads.
    pub async fn maintain(
        &self,
        table: &TableRef,
        retention: Duration,
        dry_run: bool,
    ) -> Result<Maintained, LakeError> {
        let mut opened = self.open(table).await?;
        let (mut compacted, mut written) = (0, 0);
        if !dry_run {
            let (optimized, metrics) = opened.optimize().await?;
            opened = optimized;
            compacted = metrics.num_files_removed;
            written = metrics.num_files_added;
        }
        let retention = chrono::Duration::from_std(retention)
            .map_err(|error| LakeError::invalid("retention", error.to_string()))?;
        let (vacuumed, metrics) = opened
            .vacuum()
            .with_retention_period(retention)
            // The operator's retention setting is the rule; the table's own default
            // (seven days) would refuse a shorter one.
            .with_enforce_retention_duration(false)
            .with_dry_run(dry_run)
            .await?;
        Ok(Maintained {
            table: table.to_string(),
            version: vacuumed.version().unwrap_or(0),
            files_compacted: compacted,
            files_written: written,
            files_vacuumed: metrics.files_deleted.len(),
            dry_run,
        })
    }

    /// Deletes staging files older than `age` under a lake on a local disk; how many.
    /// A lake on an object store has none: its uploads are whole or absent.
    pub fn remove_staging_leftovers(&self, age: Duration) -> Result<usize, LakeError> {
        if self.root().scheme() != "file" {
            return Ok(0);
        }
        let Ok(root) = self.root().to_file_path() else {
            return Ok(0);
        };
        let cutoff = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = 0;
        remove_leftovers_in(&root, cutoff, &mut removed)
            .map_err(|error| LakeError::Storage(format!("cleaning staging files: {error}")))?;
        Ok(removed)
    }
}

/// Whether a file name is a staging name: the final name, `#`, and digits.
fn is_staging(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(stem, suffix)| {
        !stem.is_empty() && !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
    })
}

fn remove_leftovers_in(
    folder: &Path,
    cutoff: SystemTime,
    removed: &mut usize,
) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        // Never follows a link: only what the lake itself wrote is touched.
        let kind = entry.file_type()?;
        if kind.is_dir() {
            remove_leftovers_in(&entry.path(), cutoff, removed)?;
        } else if kind.is_file()
            && entry.file_name().to_str().is_some_and(is_staging)
            && entry.metadata()?.modified()? <= cutoff
        {
            std::fs::remove_file(entry.path())?;
            *removed += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_told_from_table_files() {
        assert!(is_staging("part-00001-abc.c000.snappy.parquet#1"));
        assert!(is_staging("00000000000000000003.json#12"));
        assert!(!is_staging("part-00001-abc.c000.snappy.parquet"));
        assert!(!is_staging("notes#draft"));
        assert!(!is_staging("#1"));
    }

    #[test]
    fn old_leftovers_go_and_everything_else_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::local(dir.path()).expect("lake");
        let table = dir.path().join("tenant_acme/bronze/orders");
        std::fs::create_dir_all(table.join("_delta_log")).expect("folders");
        for name in [
            "part-1.parquet#1",
            "part-1.parquet",
            "_delta_log/00000000000000000000.json",
        ] {
            std::fs::write(table.join(name), b"x").expect("write");
        }
        assert_eq!(
            lake.remove_staging_leftovers(Duration::from_secs(3600))
                .expect("clean"),
            0
        );
        assert!(
            table.join("part-1.parquet#1").exists(),
            "a fresh one may be a write in flight"
        );
        assert_eq!(
            lake.remove_staging_leftovers(Duration::ZERO)
                .expect("clean"),
            1
        );
        assert!(!table.join("part-1.parquet#1").exists());
        assert!(table.join("part-1.parquet").exists());
        assert!(table.join("_delta_log/00000000000000000000.json").exists());
    }
}
