BEGIN;
--
-- Raw SQL operation
--

DROP POLICY task_staff_delete ON tasks_task;
DROP POLICY task_staff_update ON tasks_task;
DROP POLICY task_staff_insert ON tasks_task;
DROP POLICY task_staff_select ON tasks_task;
DROP POLICY task_system ON tasks_task;
DROP POLICY task_owner ON tasks_task;

--
-- Raw SQL operation
--
DROP FUNCTION todoproject_staff_may(text[]);
--
-- Raw SQL operation
--

CREATE POLICY task_owner ON tasks_task
    USING (owner_id = NULLIF(current_setting('todoproject.user_id', true), '')::bigint)
    WITH CHECK (owner_id = NULLIF(current_setting('todoproject.user_id', true), '')::bigint);
CREATE POLICY task_system ON tasks_task
    USING (current_setting('todoproject.system', true) = 'on')
    WITH CHECK (current_setting('todoproject.system', true) = 'on');

COMMIT;
