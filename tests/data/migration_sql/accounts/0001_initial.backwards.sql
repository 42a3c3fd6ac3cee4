BEGIN;
--
-- Create model User
--
DROP TABLE "accounts_user_groups" CASCADE;
DROP TABLE "accounts_user_user_permissions" CASCADE;
DROP TABLE "accounts_user" CASCADE;
COMMIT;
