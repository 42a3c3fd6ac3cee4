BEGIN;
--
-- Raw SQL operation
--

DROP POLICY task_system ON tasks_task;
DROP POLICY task_owner ON tasks_task;
ALTER TABLE tasks_task NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tasks_task DISABLE ROW LEVEL SECURITY;

--
-- Raw SQL operation
--

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';
ALTER TABLE tasks_task DROP CONSTRAINT tasks_task_owner_id_db3dcc3e_fk_accounts_user_id;
ALTER TABLE tasks_task ADD CONSTRAINT tasks_task_owner_id_db3dcc3e_fk_accounts_user_id FOREIGN KEY (owner_id)
    REFERENCES accounts_user (id)  DEFERRABLE INITIALLY DEFERRED;

COMMIT;
