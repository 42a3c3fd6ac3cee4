--
-- Raw SQL operation
--
SET lock_timeout = '5s';
SET statement_timeout = 0;
--
-- Raw SQL operation
--

ALTER TABLE tasks_task DROP CONSTRAINT IF EXISTS task_title_visible;
ALTER TABLE tasks_task DROP CONSTRAINT IF EXISTS task_description_max_length;
ALTER TABLE tasks_task
    ADD CONSTRAINT task_title_visible
        CHECK ((title)::text ~ '[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u115f-\u1160\u1680\u17b4-\u17b5\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u206f\u2800\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]') NOT VALID,
    ADD CONSTRAINT task_description_max_length
        CHECK (length(description) <= 10000) NOT VALID;

--
-- Raw Python operation
--
-- THIS OPERATION CANNOT BE WRITTEN AS SQL
--
-- Raw SQL operation
--
ALTER TABLE tasks_task VALIDATE CONSTRAINT task_title_visible;
--
-- Raw Python operation
--
-- THIS OPERATION CANNOT BE WRITTEN AS SQL
--
-- Raw SQL operation
--

ALTER TABLE tasks_task DROP CONSTRAINT IF EXISTS task_title_not_blank;
ALTER TABLE tasks_task RENAME CONSTRAINT task_title_visible TO task_title_not_blank;

--
-- Raw SQL operation
--
RESET lock_timeout;
RESET statement_timeout;
--
-- Remove constraint task_title_not_blank from model task
--
-- (no-op)
--
-- Alter field description on task
--
-- (no-op)
--
-- Alter field title on task
--
-- (no-op)
--
-- Create constraint task_title_not_blank on model task
--
-- (no-op)
--
-- Create constraint task_description_max_length on model task
--
-- (no-op)
