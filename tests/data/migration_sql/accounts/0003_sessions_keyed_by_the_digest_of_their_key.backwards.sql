BEGIN;
--
-- Create model Session
--
DROP TABLE "accounts_session" CASCADE;
--
-- Raw SQL operation
--
SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '60s';
COMMIT;
