BEGIN;
--
-- Raw SQL operation
--

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
CREATE FUNCTION todoproject_staff_may_in(permission_app text, codenames text[]) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
    SELECT current_setting('todoproject.transaction', true) = (extract(epoch FROM now()) * 1000000)::bigint::text
        AND current_setting('todoproject.staff', true) = 'on' AND EXISTS (
        SELECT 1 FROM accounts_user u
        WHERE u.id = todoproject_acting_user()
          AND u.is_active AND u.is_staff
          AND (u.is_superuser OR EXISTS (
              SELECT 1 FROM auth_permission p
              JOIN django_content_type ct ON ct.id = p.content_type_id
              WHERE ct.app_label = permission_app AND p.codename = ANY (codenames)
                AND (p.id IN (SELECT up.permission_id
                              FROM accounts_user_user_permissions up
                              WHERE up.user_id = u.id)
                     OR p.id IN (SELECT gp.permission_id
                                 FROM auth_group_permissions gp
                                 JOIN accounts_user_groups ug
                                   ON ug.group_id = gp.group_id
                                 WHERE ug.user_id = u.id))))
    )
$$;
CREATE FUNCTION todoproject_guard_user() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
DECLARE
    allowed boolean;
BEGIN
    IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        allowed := true;
    ELSIF TG_OP = 'INSERT' THEN
        -- A new id from the sequence, whatever the statement gave: none
        -- chosen in advance (a deleted user's, whose old session cookies
        -- would then log in to it, or one the sequence would reach later).
        NEW.id := nextval(pg_get_serial_sequence(TG_RELID::regclass::text, 'id'));
        allowed := NOT (NEW.is_staff OR NEW.is_superuser) OR todoproject_staff_may_in('accounts', '{change_user}');
    ELSIF TG_OP = 'UPDATE' THEN
        allowed := (to_jsonb(NEW) - 'last_login') = (to_jsonb(OLD) - 'last_login')
            OR (OLD.id IS NOT DISTINCT FROM todoproject_acting_user()
                AND NEW.id = OLD.id AND NEW.is_staff = OLD.is_staff AND NEW.is_superuser = OLD.is_superuser)
            OR todoproject_staff_may_in('accounts', '{change_user}');
    ELSE
        allowed := OLD.id IS NOT DISTINCT FROM todoproject_acting_user()
            OR todoproject_staff_may_in('accounts', '{delete_user}');
    END IF;
    -- Unknown (NULL) is refused too.
    IF allowed IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = CASE TG_OP
            WHEN 'INSERT' THEN 'a new staff or superuser account needs the staff scope of staff who may change users (the admin, or staff_scope() in a view)'
            WHEN 'UPDATE' THEN format('user %s may be changed in that user''s scope only (their request, or acting_as()), and made staff or superuser only in the staff scope of staff who may change users (the admin, or staff_scope() in a view)', OLD.id)
            ELSE format('user %s may be deleted in that user''s scope only (their request, or acting_as()), or in the staff scope of staff who may delete users (the admin, or staff_scope() in a view)', OLD.id)
        END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION todoproject_guard_staff_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    -- Unknown (NULL) is refused too.
    IF (pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER')
        OR todoproject_staff_may_in(TG_ARGV[0], TG_ARGV[1:])) IS NOT TRUE
    THEN
        RAISE EXCEPTION '% on % needs the staff scope of staff who may % (%): the admin, or staff_scope() in a view', TG_OP, TG_TABLE_NAME, array_to_string(TG_ARGV[1:], ' or '), TG_ARGV[0]
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION todoproject_guard_admin_log() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    -- Unknown (NULL) is refused too.
    IF (pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') OR NEW.user_id = todoproject_acting_user()) IS NOT TRUE THEN
        RAISE EXCEPTION 'an entry of the admin''s history names the acting user, not user %', NEW.user_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION todoproject_guard_user(), todoproject_guard_staff_only(), todoproject_guard_admin_log() FROM PUBLIC;
CREATE TRIGGER accounts_user_guard BEFORE INSERT OR UPDATE OR DELETE ON accounts_user
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_user();
CREATE TRIGGER django_admin_log_guard_insert BEFORE INSERT ON django_admin_log
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_admin_log();
CREATE TRIGGER accounts_user_user_permissions_guard_insert_update BEFORE INSERT OR UPDATE ON accounts_user_user_permissions
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('accounts', 'change_user');
CREATE TRIGGER accounts_user_user_permissions_guard_delete BEFORE DELETE ON accounts_user_user_permissions
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('accounts', 'change_user', 'delete_user');
CREATE TRIGGER accounts_user_groups_guard_insert_update BEFORE INSERT OR UPDATE ON accounts_user_groups
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('accounts', 'change_user');
CREATE TRIGGER accounts_user_groups_guard_delete BEFORE DELETE ON accounts_user_groups
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('accounts', 'change_user', 'delete_user');
CREATE TRIGGER auth_group_permissions_guard_insert_update BEFORE INSERT OR UPDATE ON auth_group_permissions
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('auth', 'change_group');
CREATE TRIGGER auth_group_permissions_guard_delete BEFORE DELETE ON auth_group_permissions
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('auth', 'change_group', 'delete_group');
CREATE TRIGGER auth_group_guard_insert BEFORE INSERT ON auth_group
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('auth', 'add_group');
CREATE TRIGGER auth_group_guard_update BEFORE UPDATE ON auth_group
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('auth', 'change_group');
CREATE TRIGGER auth_group_guard_delete BEFORE DELETE ON auth_group
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('auth', 'delete_group');
CREATE TRIGGER auth_permission_guard_insert_update_delete BEFORE INSERT OR UPDATE OR DELETE ON auth_permission
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('auth', 'change_permission');
CREATE TRIGGER django_content_type_guard_insert_update_delete BEFORE INSERT OR UPDATE OR DELETE ON django_content_type
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('contenttypes', 'change_contenttype');
CREATE TRIGGER django_admin_log_guard_update BEFORE UPDATE ON django_admin_log
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('admin', 'change_logentry');
CREATE TRIGGER django_admin_log_guard_delete BEFORE DELETE ON django_admin_log
    FOR EACH ROW EXECUTE FUNCTION todoproject_guard_staff_only('accounts', 'delete_user');

COMMIT;
