//! The shape of a guarded MERGE, rendered by each sink: the Delta sink through delta-rs's builder, the
//! warehouse sink as SQL text of its dialect.

use crate::sink::spec::TableSpec;

/// The join of a watermark upsert.
pub const WATERMARK_ON: &str =
    "t.database_id = s.database_id AND t.data_source_id = s.data_source_id";

/// How one MERGE treats matches and non-matches.
pub struct MergePlan<'a> {
    /// Join predicate (`s` = source, `t` = target).
    pub on: String,
    /// `WHEN MATCHED [AND guard] THEN UPDATE columns`, first match wins.
    pub matched: Vec<(Option<&'a str>, Vec<&'a str>)>,
    /// `WHEN NOT MATCHED [AND guard] THEN INSERT *`; `None` inserts nothing.
    pub insert: Option<Option<&'a str>>,
}

impl<'a> MergePlan<'a> {
    /// The MERGE of a batch of rows and delete flags (`s.flag_only`): a flag updates only its columns
    /// under its guard, a row replaces every column but `first_synced_at` under `row_guard`, and new
    /// keys are inserted unless they are flags.
    pub fn rows_and_flags(
        spec: &TableSpec,
        on: String,
        (flag_guard, flag_columns): (&'a str, &[&'a str]),
        row_guard: &'a str,
    ) -> MergePlan<'a> {
        let update: Vec<&'a str> = spec
            .columns
            .iter()
            .map(|c| c.name)
            .filter(|c| *c != "first_synced_at")
            .collect();
        MergePlan {
            on,
            matched: vec![
                (Some(flag_guard), flag_columns.to_vec()),
                (Some(row_guard), update),
            ],
            insert: Some(Some("NOT s.flag_only")),
        }
    }

    /// The MERGE of planned page rows and flags, joined on `on`.
    pub fn pages(on: String) -> MergePlan<'static> {
        use super::pages::{FLAG_COLUMNS, FLAG_GUARD, ROW_GUARD};
        MergePlan::rows_and_flags(
            &crate::sink::spec::PAGES,
            on,
            (FLAG_GUARD, &FLAG_COLUMNS),
            ROW_GUARD,
        )
    }

    /// The MERGE of planned rows and flags of a content table, joined on `on`: a flag marks a live row
    /// deleted, a row replaces the stored one (the plan only holds rows that differ).
    pub fn content(spec: &TableSpec, on: String) -> MergePlan<'static> {
        MergePlan::rows_and_flags(
            spec,
            on,
            (
                "s.flag_only AND NOT t.is_deleted",
                &["is_deleted", "deleted_at"],
            ),
            "NOT s.flag_only",
        )
    }

    /// The MERGE that replaces or inserts rows on `on` (every column).
    pub fn upsert(spec: &'a TableSpec, on: String) -> MergePlan<'a> {
        MergePlan {
            on,
            matched: vec![(None, spec.names())],
            insert: Some(None),
        }
    }
}
