-- Teams: organizations, users and their role grants, API tokens (only a
-- SHA-256 of each secret is kept), the append-only audit log and CI deploy
-- hooks (their HMAC secret sealed with the master key).
CREATE TABLE orgs (
    name    TEXT PRIMARY KEY,
    created INTEGER NOT NULL
);

CREATE TABLE users (
    name     TEXT PRIMARY KEY,
    -- argon2id in PHC form: $argon2id$v=19$m=..,t=..,p=..$salt$hash
    password TEXT NOT NULL,
    created  INTEGER NOT NULL
);

-- A grant gives a user a role in an organization ("*" = every one, the
-- host's administrators), optionally narrowed to a project and/or an
-- environment ("" = all).
CREATE TABLE grants (
    username TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    org      TEXT NOT NULL,
    project  TEXT NOT NULL DEFAULT '',
    env      TEXT NOT NULL DEFAULT '',
    role     TEXT NOT NULL,
    created  INTEGER NOT NULL,
    PRIMARY KEY (username, org, project, env)
);

CREATE TABLE tokens (
    id        TEXT PRIMARY KEY,
    hash      BLOB NOT NULL UNIQUE,
    last4     TEXT NOT NULL,
    name      TEXT NOT NULL,
    username  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    -- JSON: {"org","project","env","actions"} narrowing the user's grants.
    scope     TEXT NOT NULL DEFAULT '{}',
    created   INTEGER NOT NULL,
    expires   INTEGER NOT NULL,
    last_used INTEGER NOT NULL DEFAULT 0,
    revoked   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_user ON tokens(username);

CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    time     INTEGER NOT NULL,
    username TEXT NOT NULL,
    token    TEXT NOT NULL DEFAULT '',
    source   TEXT NOT NULL DEFAULT '',
    action   TEXT NOT NULL,
    target   TEXT NOT NULL DEFAULT '',
    org      TEXT NOT NULL DEFAULT '',
    status   INTEGER NOT NULL,
    result   TEXT NOT NULL DEFAULT '',
    duration INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX audit_org_time ON audit(org, time);
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE hooks (
    id         TEXT PRIMARY KEY,
    instance   TEXT NOT NULL,
    org        TEXT NOT NULL,
    action     TEXT NOT NULL,
    -- the instance a promote hook promotes from
    source     TEXT NOT NULL DEFAULT '',
    secret     BLOB NOT NULL,
    created_by TEXT NOT NULL,
    created    INTEGER NOT NULL,
    last_used  INTEGER NOT NULL DEFAULT 0
);
