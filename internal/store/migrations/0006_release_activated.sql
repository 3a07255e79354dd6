-- When each release became active (its switch-over), so that a rule such as
-- "the source of a promotion has been healthy for 10 minutes" is measured
-- from the switch, not from when the release was planned. 0: never active,
-- or activated before this version.
ALTER TABLE releases ADD COLUMN activated INTEGER NOT NULL DEFAULT 0;
