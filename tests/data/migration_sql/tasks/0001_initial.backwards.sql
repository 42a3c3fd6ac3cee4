BEGIN;
--
-- Create model Task
--
DROP TABLE "tasks_task" CASCADE;
COMMIT;
