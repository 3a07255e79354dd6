-- Backup runs: one row per snapshot attempt of one service. Rows outlive the
-- instance (quai rm never deletes backups, so neither their history). A row
-- left "running" by a daemon that crashed is marked interrupted at start.
CREATE TABLE backup_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    instance     TEXT NOT NULL,
    org          TEXT NOT NULL DEFAULT '',
    service      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    trigger      TEXT NOT NULL DEFAULT '',
    snapshot     TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    error        TEXT NOT NULL DEFAULT '',
    bytes        INTEGER NOT NULL DEFAULT 0,
    added        INTEGER NOT NULL DEFAULT 0,
    files        INTEGER NOT NULL DEFAULT 0,
    duration     INTEGER NOT NULL DEFAULT 0,
    verified     INTEGER NOT NULL DEFAULT 0,
    verify_error TEXT NOT NULL DEFAULT '',
    facts        TEXT NOT NULL DEFAULT '',
    started      INTEGER NOT NULL,
    finished     INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX backup_runs_by_instance ON backup_runs(instance, id);
CREATE INDEX backup_runs_by_snapshot ON backup_runs(snapshot);

-- Restore drills: the latest snapshots restored into a throw-away instance
-- and checked; report holds the per-service findings.
CREATE TABLE backup_drills (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    instance TEXT NOT NULL,
    drill    TEXT NOT NULL DEFAULT '',
    status   TEXT NOT NULL,
    error    TEXT NOT NULL DEFAULT '',
    report   TEXT NOT NULL DEFAULT '',
    started  INTEGER NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX backup_drills_by_instance ON backup_drills(instance, id);

-- The scheduler's memory: when each job last ran and last succeeded, so a
-- run missed while the daemon was down runs at start.
CREATE TABLE backup_schedule (
    instance     TEXT NOT NULL,
    service      TEXT NOT NULL,
    job          TEXT NOT NULL,
    last_run     INTEGER NOT NULL DEFAULT 0,
    last_success INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (instance, service, job)
);
