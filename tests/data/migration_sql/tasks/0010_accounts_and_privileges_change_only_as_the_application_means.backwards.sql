BEGIN;
--
-- Raw SQL operation
--

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';
DROP TRIGGER django_admin_log_guard_delete ON django_admin_log;
DROP TRIGGER django_admin_log_guard_update ON django_admin_log;
DROP TRIGGER django_content_type_guard_insert_update_delete ON django_content_type;
DROP TRIGGER auth_permission_guard_insert_update_delete ON auth_permission;
DROP TRIGGER auth_group_guard_delete ON auth_group;
DROP TRIGGER auth_group_guard_update ON auth_group;
DROP TRIGGER auth_group_guard_insert ON auth_group;
DROP TRIGGER auth_group_permissions_guard_delete ON auth_group_permissions;
DROP TRIGGER auth_group_permissions_guard_insert_update ON auth_group_permissions;
DROP TRIGGER accounts_user_groups_guard_delete ON accounts_user_groups;
DROP TRIGGER accounts_user_groups_guard_insert_update ON accounts_user_groups;
DROP TRIGGER accounts_user_user_permissions_guard_delete ON accounts_user_user_permissions;
DROP TRIGGER accounts_user_user_permissions_guard_insert_update ON accounts_user_user_permissions;
DROP TRIGGER django_admin_log_guard_insert ON django_admin_log;
DROP TRIGGER accounts_user_guard ON accounts_user;
DROP FUNCTION todoproject_guard_admin_log();
DROP FUNCTION todoproject_guard_staff_only();
DROP FUNCTION todoproject_guard_user();
DROP FUNCTION todoproject_staff_may_in(text, text[]);

COMMIT;
