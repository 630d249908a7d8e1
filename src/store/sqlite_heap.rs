//! Every SQLite connection, of the store and of a SQLite register, starts by making the C
//! library's allocator keep the memory SQLite frees for its next statement.
//!
//! SQLite allocates with glibc's `malloc`. glibc hands the top of a heap back to the OS as
//! soon as more than 128 KiB is free there, so buffers of a few hundred KiB that a statement
//! grows and frees — a page of the audit log packed into one value per column — were faulted
//! in afresh, page after page: 114 000 page faults and a quarter of `audit verify`'s CPU time
//! for 1 000 000 entries (BENCHMARKS.md). glibc raises that limit by itself when a block it
//! had mapped on its own is freed (mallopt(3), `M_MMAP_THRESHOLD`): blocks up to that size
//! then come from the heap, and up to twice it stays there when freed. One block of
//! [`WARM_BYTES`], allocated and freed by SQLite as the connection opens, sets the two limits
//! to 1 and 2 MiB for the whole process. Under another C library it is one allocation and
//! nothing more. Nothing is read or written: the statement only makes a random blob and
//! measures it.

use sqlx::SqliteConnection;

/// The block allocated and freed once per connection.
const WARM_BYTES: i64 = 1024 * 1024;

/// Allocates and frees [`WARM_BYTES`] inside SQLite (see the module header).
pub(crate) async fn keep_freed_memory(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT length(randomblob($1))")
        .bind(WARM_BYTES)
        .execute(conn)
        .await?;
    Ok(())
}
