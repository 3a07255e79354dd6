-- Instances removed without --purge whose runtime kept their volumes: what
-- `rm --purge` and `quai volumes rm` need to find those volumes again (the
-- identity and the runtime) once the instance's own row is gone.
CREATE TABLE removed_instances (
    name    TEXT PRIMARY KEY,
    org     TEXT NOT NULL,
    project TEXT NOT NULL,
    env     TEXT NOT NULL,
    runtime TEXT NOT NULL,
    dir     TEXT NOT NULL,
    removed INTEGER NOT NULL
);
