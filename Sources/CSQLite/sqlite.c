#include <stdint.h>
#include "csqlite.h"

/* After each commit, with the number of frames in the WAL: SQLite's auto-checkpoint (PASSIVE)
 * from 32 frames on, and from 256 frames (about 1 MB) on a TRUNCATE checkpoint. The WAL only
 * restarts from its beginning when a writer begins after a complete checkpoint *in the same
 * process* (a new process rebuilds the index from the whole file and takes every frame for
 * un-checkpointed), so a command with a single write transaction (service create, network
 * create) would grow the WAL for ever, and every later process would read all of it at open.
 * Truncating bounds that read. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames) {
    if (frames >= 256) {
        // Never wait for it: another process reading just now makes it return SQLITE_BUSY, and a
        // later commit tries again.
        sqlite3_busy_timeout(db, 0);
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, (int *)0, (int *)0);
        sqlite3_busy_timeout(db, (int)(intptr_t)arg);
    } else if (frames >= 32) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, (int *)0, (int *)0);
    }
    return SQLITE_OK;
}

int hutch_sqlite_open(const char *path, int busy_timeout_ms, int create, sqlite3 **out) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, out, flags, (const char *)0);
    if (rc != SQLITE_OK) return rc;
    sqlite3_extended_result_codes(*out, 1);
    sqlite3_busy_timeout(*out, busy_timeout_ms);
    // The last connection to close would otherwise checkpoint the WAL into the database and
    // delete -wal and -shm: two fdatasyncs and two unlinks on every hutch command, which the next
    // command then undoes by creating them again.
    sqlite3_db_config(*out, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
    int persist = 1;
    sqlite3_file_control(*out, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    // A small auto-checkpoint: every process is the first to open the WAL and so reads all of it
    // to rebuild the index (its cost per MB is in bench/README.md). See wal_hook.
    sqlite3_wal_hook(*out, wal_hook, (void *)(intptr_t)busy_timeout_ms);
    rc = sqlite3_exec(*out, "PRAGMA synchronous = NORMAL;", 0, 0, 0);
    // journal_mode=WAL is stored in the file: only the opener that creates the store sets it.
    if (rc == SQLITE_OK && create) rc = sqlite3_exec(*out, "PRAGMA journal_mode = WAL;", 0, 0, 0);
    return rc;
}

int hutch_sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text, int length) {
    return sqlite3_bind_text(stmt, index, text, length, SQLITE_TRANSIENT);
}
