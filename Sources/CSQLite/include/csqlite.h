#ifndef CSQLITE_H
#define CSQLITE_H
// SQLite for Swift: the system library plus plain functions for what Swift can't call directly
// (variadic sqlite3_db_config, the SQLITE_TRANSIENT destructor macro).
#include <sqlite3.h>

// Opens the database for read/write with a busy timeout and synchronous=NORMAL. With `create`:
// creates it if missing and switches it to WAL (recorded in the file). Keeps the -wal/-shm files between connections and skips the checkpoint on
// close (auto-checkpoint still runs on commit). Returns an SQLite result code; *out is set even on
// failure (for sqlite3_errmsg) and must be closed by the caller.
int hutch_sqlite_open(const char *path, int busy_timeout_ms, int create, sqlite3 **out);

// sqlite3_bind_text with SQLITE_TRANSIENT (SQLite copies the bytes).
int hutch_sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text, int length);

#endif
