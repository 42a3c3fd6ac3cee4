BEGIN;
--
-- Raw SQL operation
--
SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '60s';
--
-- Create model Session
--
CREATE TABLE "accounts_session" ("session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL, "session_key" char(64) NOT NULL PRIMARY KEY);
CREATE INDEX "accounts_session_expire_date_5bbfba7c" ON "accounts_session" ("expire_date");
COMMIT;
