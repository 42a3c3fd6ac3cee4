BEGIN;
--
-- Raw SQL operation
--
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';
ALTER TABLE accounts_user_groups DROP CONSTRAINT accounts_user_groups_user_id_52b62117_fk_accounts_user_id;
ALTER TABLE accounts_user_groups ADD CONSTRAINT accounts_user_groups_user_id_52b62117_fk_accounts_user_id FOREIGN KEY (user_id)
    REFERENCES accounts_user (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE accounts_user_user_permissions DROP CONSTRAINT accounts_user_user_p_user_id_e4f0a161_fk_accounts_;
ALTER TABLE accounts_user_user_permissions ADD CONSTRAINT accounts_user_user_p_user_id_e4f0a161_fk_accounts_ FOREIGN KEY (user_id)
    REFERENCES accounts_user (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE django_admin_log DROP CONSTRAINT django_admin_log_user_id_c564eba6_fk_accounts_user_id;
ALTER TABLE django_admin_log ADD CONSTRAINT django_admin_log_user_id_c564eba6_fk_accounts_user_id FOREIGN KEY (user_id)
    REFERENCES accounts_user (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
COMMIT;
