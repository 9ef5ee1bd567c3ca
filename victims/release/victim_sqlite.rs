//! The SQLite victim: links the real `libsqlite3.so.0` (DT_NEEDED, found through an rpath of
//! $ORIGIN), opens an in-memory database with a table of 100 rows, and runs a query over it in a
//! loop (prepare, step, finalize), checking the answer and reporting which version answers
//! (`sqlite3_libversion`), or mixed when the answer is wrong. Its first stderr line names the
//! version it started on.
//!
//! Usage: `victim-sqlite STATUS_FILE`.

#![no_main]

#[path = "../common/report.rs"]
mod report;
#[path = "version.rs"]
mod version;

use std::ffi::{c_char, c_int, c_void, CStr};

use report::Report;

#[link(name = "sqlite3")]
extern "C" {
    fn sqlite3_libversion() -> *const c_char;
    fn sqlite3_open(filename: *const c_char, db: *mut *mut c_void) -> c_int;
    fn sqlite3_exec(
        db: *mut c_void,
        sql: *const c_char,
        callback: *const c_void,
        argument: *mut c_void,
        error: *mut *mut c_char,
    ) -> c_int;
    fn sqlite3_prepare_v2(
        db: *mut c_void,
        sql: *const c_char,
        bytes: c_int,
        statement: *mut *mut c_void,
        tail: *mut *const c_char,
    ) -> c_int;
    fn sqlite3_step(statement: *mut c_void) -> c_int;
    fn sqlite3_column_int64(statement: *mut c_void, column: c_int) -> i64;
    fn sqlite3_finalize(statement: *mut c_void) -> c_int;
}

const SQLITE_ROW: c_int = 100;
const CREATE: &CStr = c"create table t(x integer); with recursive c(i) as (select 1 union all select i + 1 from c where i < 100) insert into t select i from c;";
const QUERY: &CStr = c"select sum(x) from t";

/// The version the loaded SQLite reports.
fn sqlite_version() -> String {
    // SAFETY: SQLite returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(sqlite3_libversion()) }
        .to_string_lossy()
        .into_owned()
}

/// The query's answer, or None when SQLite failed to give one.
fn query(db: *mut c_void) -> Option<i64> {
    let mut statement = std::ptr::null_mut();
    // SAFETY: `db` is an open connection; the statement is finalized before returning.
    unsafe {
        if sqlite3_prepare_v2(db, QUERY.as_ptr(), -1, &mut statement, std::ptr::null_mut()) != 0 {
            return None;
        }
        let answer =
            (sqlite3_step(statement) == SQLITE_ROW).then(|| sqlite3_column_int64(statement, 0));
        sqlite3_finalize(statement);
        answer
    }
}

/// Entered from the C run-time (see `report.rs`).
#[no_mangle]
extern "C" fn main() -> std::ffi::c_int {
    let path = std::env::args()
        .nth(1)
        .expect("usage: victim-sqlite STATUS_FILE");
    let mut report = Report::open(&path);
    let mut db = std::ptr::null_mut();
    // SAFETY: plain SQLite calls on a connection this program owns.
    let created = unsafe {
        sqlite3_open(c":memory:".as_ptr(), &mut db) == 0
            && sqlite3_exec(
                db,
                CREATE.as_ptr(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            ) == 0
    };
    if !created {
        eprintln!("cannot create the in-memory database");
        std::process::exit(2);
    }
    version::watch(&mut report, "sqlite", sqlite_version, || {
        query(db) == Some(5050)
    })
}
