//! What can go wrong in the lakehouse, said so the caller can act on it: a name or
//! a file that is not acceptable (the caller's to fix), a table that does not exist,
//! SQL that is refused or fails, the storage underneath failing, or the source a
//! write reads from failing.

#[derive(Clone, Debug, thiserror::Error)]
pub enum LakeError {
    /// Something the caller gave is not acceptable; `field` names it.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("no table {0}")]
    NotFound(String),
    /// The query is not allowed (not a single read) or does not plan.
    #[error("{0}")]
    Sql(String),
    #[error("the query ran past its {0:?} limit")]
    Timeout(std::time::Duration),
    #[error("the lakehouse storage failed: {0}")]
    Storage(String),
    /// What a write was reading from failed (a database went away, a value did not
    /// decode); nothing was committed.
    #[error("reading the source failed: {0}")]
    Source(String),
}

impl LakeError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        LakeError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<deltalake::DeltaTableError> for LakeError {
    fn from(error: deltalake::DeltaTableError) -> Self {
        LakeError::Storage(error.to_string())
    }
}
