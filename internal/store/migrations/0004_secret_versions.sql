-- The values of an instance's sealed secrets, one row per version, sealed
-- with the master key (bound to instance, name and version). A release
-- records which version of each secret it ran with (releases.secrets,
-- name → version, never a value), so a rollback restores those values even
-- after the project's sealed file changed. Versions stay when an instance
-- is removed without purging (its volumes hold data made with them: a
-- database's password) and go with a purge.
CREATE TABLE secret_versions (
    instance TEXT NOT NULL,
    name     TEXT NOT NULL,
    version  TEXT NOT NULL,
    source   TEXT NOT NULL,
    value    BLOB NOT NULL,
    created  INTEGER NOT NULL,
    PRIMARY KEY (instance, name, version)
);

CREATE INDEX secret_versions_by_source ON secret_versions(instance, name, source, created);

ALTER TABLE releases ADD COLUMN secrets TEXT NOT NULL DEFAULT '{}';

DROP TRIGGER releases_immutable;

CREATE TRIGGER releases_immutable
BEFORE UPDATE OF instance, number, created, runtime, hashes, images, cause, secrets ON releases
BEGIN
    SELECT RAISE(ABORT, 'releases are immutable');
END;
