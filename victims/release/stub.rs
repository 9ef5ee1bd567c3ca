//! Link-time stand-ins for zlib and SQLite (`--cfg stub_zlib` or `--cfg stub_sqlite`): they
//! export the functions the victims call under the real library's soname, so that the victims
//! link (DT_NEEDED `libz.so.1`, `libsqlite3.so.0`) without the library's development files. They
//! are never run: at run time the loader finds the real release next to the victim.

#![allow(non_snake_case, clippy::missing_safety_doc)]

macro_rules! stubs {
    ($($name:ident),*) => {
        $(
            #[no_mangle]
            pub extern "C" fn $name() -> usize {
                0
            }
        )*
    };
}

#[cfg(stub_zlib)]
stubs!(zlibVersion, compressBound, compress, uncompress);

#[cfg(stub_sqlite)]
stubs!(
    sqlite3_libversion,
    sqlite3_open,
    sqlite3_exec,
    sqlite3_prepare_v2,
    sqlite3_step,
    sqlite3_column_int64,
    sqlite3_finalize
);
