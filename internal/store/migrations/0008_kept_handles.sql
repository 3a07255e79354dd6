-- The replicas of failed releases, kept stopped with their logs and exit
-- state until the next successful release or `quai prune`, so that the
-- failure can be read (`quai logs INSTANCE --release N`).
CREATE TABLE kept_handles (
    instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,
    replica  TEXT NOT NULL,
    service  TEXT NOT NULL,
    release  INTEGER NOT NULL,
    handle   BLOB NOT NULL,
    PRIMARY KEY (instance, replica)
);
