BEGIN;
--
-- Raw SQL operation
--

SET LOCAL lock_timeout = '5s';
DROP TRIGGER task_search_empty ON tasks_task;
DROP TRIGGER task_search_remove ON tasks_task;
DROP TRIGGER task_search_rename ON tasks_task;
DROP TRIGGER task_search_add ON tasks_task;
DROP FUNCTION todoproject_task_search_empty();
DROP FUNCTION todoproject_task_search_remove();
DROP FUNCTION todoproject_task_search_rename();
DROP FUNCTION todoproject_task_search_add();
DROP FUNCTION todoproject_task_search_forget(bigint[]);
DROP FUNCTION todoproject_tasks_titled(text[], integer);
DROP TABLE tasks_task_search;

--
-- Raw SQL operation
--
-- (no-op)
--
-- Raw SQL operation
--
-- (no-op)
COMMIT;
