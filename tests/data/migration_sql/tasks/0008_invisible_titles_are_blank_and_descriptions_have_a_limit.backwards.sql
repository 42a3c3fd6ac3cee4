--
-- Create constraint task_description_max_length on model task
--
-- (no-op)
--
-- Create constraint task_title_not_blank on model task
--
-- (no-op)
--
-- Alter field title on task
--
-- (no-op)
--
-- Alter field description on task
--
-- (no-op)
--
-- Remove constraint task_title_not_blank from model task
--
-- (no-op)
--
-- Raw SQL operation
--
SET lock_timeout = '5s';
SET statement_timeout = 0;
--
-- Raw SQL operation
--

ALTER TABLE tasks_task RENAME CONSTRAINT task_title_not_blank TO task_title_visible;
ALTER TABLE tasks_task
    ADD CONSTRAINT task_title_not_blank CHECK ((title)::text ~ '\S') NOT VALID;
ALTER TABLE tasks_task VALIDATE CONSTRAINT task_title_not_blank;

--
-- Raw Python operation
--
-- THIS OPERATION CANNOT BE WRITTEN AS SQL
--
-- Raw SQL operation
--
-- (no-op)
--
-- Raw Python operation
--
-- THIS OPERATION CANNOT BE WRITTEN AS SQL
--
-- Raw SQL operation
--

ALTER TABLE tasks_task DROP CONSTRAINT task_description_max_length;
ALTER TABLE tasks_task DROP CONSTRAINT task_title_visible;

--
-- Raw SQL operation
--
RESET lock_timeout;
RESET statement_timeout;
