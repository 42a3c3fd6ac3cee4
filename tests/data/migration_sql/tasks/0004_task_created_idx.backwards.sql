--
-- Raw SQL operation
--
RESET lock_timeout;
RESET statement_timeout;
--
-- Concurrently create index task_created_idx on field(s) -created_at, -id of model task
--
DROP INDEX CONCURRENTLY IF EXISTS "task_created_idx";
--
-- Raw SQL operation
--
SET lock_timeout = '5s';
SET statement_timeout = 0;
