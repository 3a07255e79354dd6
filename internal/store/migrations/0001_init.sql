-- Instances, their immutable releases and the handles of running replicas.
CREATE TABLE instances (
    name    TEXT PRIMARY KEY,
    org     TEXT NOT NULL,
    project TEXT NOT NULL,
    env     TEXT NOT NULL,
    runtime TEXT NOT NULL,
    dir     TEXT NOT NULL,
    stopped INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);

CREATE TABLE releases (
    instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,
    number   INTEGER NOT NULL,
    status   TEXT NOT NULL,
    created  INTEGER NOT NULL,
    runtime  TEXT NOT NULL,
    model    BLOB NOT NULL,
    resolved BLOB,
    hashes   TEXT NOT NULL,
    images   TEXT NOT NULL,
    cause    TEXT NOT NULL,
    error    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (instance, number)
);

-- At most one active release per instance, enforced by the database.
CREATE UNIQUE INDEX releases_one_active ON releases(instance) WHERE status = 'active';

-- A release is immutable once written: only its status and error may change.
CREATE TRIGGER releases_immutable
BEFORE UPDATE OF instance, number, created, runtime, model, resolved, hashes, images, cause ON releases
BEGIN
    SELECT RAISE(ABORT, 'releases are immutable');
END;

CREATE TABLE handles (
    instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,
    replica  TEXT NOT NULL,
    service  TEXT NOT NULL,
    release  INTEGER NOT NULL,
    handle   BLOB NOT NULL,
    PRIMARY KEY (instance, replica)
);
