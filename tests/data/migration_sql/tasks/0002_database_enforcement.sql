BEGIN;
--
-- Raw SQL operation
--

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';
ALTER TABLE tasks_task DROP CONSTRAINT tasks_task_owner_id_db3dcc3e_fk_accounts_user_id;
ALTER TABLE tasks_task ADD CONSTRAINT tasks_task_owner_id_db3dcc3e_fk_accounts_user_id FOREIGN KEY (owner_id)
    REFERENCES accounts_user (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;

--
-- Raw SQL operation
--

ALTER TABLE tasks_task ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks_task FORCE ROW LEVEL SECURITY;
CREATE POLICY task_owner ON tasks_task
    USING (owner_id = NULLIF(current_setting('todoproject.user_id', true), '')::bigint)
    WITH CHECK (owner_id = NULLIF(current_setting('todoproject.user_id', true), '')::bigint);
CREATE POLICY task_system ON tasks_task
    USING (current_setting('todoproject.system', true) = 'on')
    WITH CHECK (current_setting('todoproject.system', true) = 'on');

COMMIT;
