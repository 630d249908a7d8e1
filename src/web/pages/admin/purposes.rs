//! `/admin/purposes/…`: the purpose catalogue edited field by field (being built).

/// This area's routes (merged into `/admin`'s).
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    Vec::new()
}
