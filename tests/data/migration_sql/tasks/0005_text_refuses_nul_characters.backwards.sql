BEGIN;
--
-- Alter field title on task
--
-- (no-op)
--
-- Alter field description on task
--
-- (no-op)
COMMIT;
