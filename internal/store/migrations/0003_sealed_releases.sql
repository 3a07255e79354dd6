-- A release's model and merged Compose document hold secret values (passwords
-- in environments, env files, commands), so they are stored sealed with the
-- master key. Releases written in the clear before this version are sealed
-- in place once, when the store opens: that is the only change the model and
-- the document may ever see.
ALTER TABLE releases ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER releases_immutable;

CREATE TRIGGER releases_immutable
BEFORE UPDATE OF instance, number, created, runtime, hashes, images, cause ON releases
BEGIN
    SELECT RAISE(ABORT, 'releases are immutable');
END;

CREATE TRIGGER releases_sealed_once
BEFORE UPDATE OF model, resolved, sealed ON releases
WHEN NOT (OLD.sealed = 0 AND NEW.sealed = 1)
BEGIN
    SELECT RAISE(ABORT, 'releases are immutable');
END;
