-- Operation records: the persisted half of the per-instance lock. A record
-- left "running" by a daemon that crashed is a stale lock that recovery clears.
CREATE TABLE operations (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    instance TEXT NOT NULL,
    kind     TEXT NOT NULL,
    owner    TEXT NOT NULL,
    release  INTEGER NOT NULL DEFAULT 0,
    status   TEXT NOT NULL,
    started  INTEGER NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0,
    error    TEXT NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX operations_one_running ON operations(instance) WHERE status = 'running';
CREATE INDEX operations_by_instance ON operations(instance, id);

-- Daemon-wide settings as a key-value.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
