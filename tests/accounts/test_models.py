import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ownership.scope import acting_as
from tests.factories import UserFactory
from tests.privileges import as_root

User = get_user_model()

pytestmark = pytest.mark.django_db


def test_user_model_is_the_custom_one():
    assert User._meta.label == "accounts.User"


def test_create_user_hashes_password_and_keeps_email():
    user = User.objects.create_user("carol", "carol@example.com", "s3cret-pass")

    user.refresh_from_db()
    assert user.email == "carol@example.com"
    assert user.check_password("s3cret-pass")
    assert not user.is_staff


def test_create_superuser_is_staff_and_superuser():
    with as_root():
        admin = User.objects.create_superuser("root", "root@example.com", "s3cret-pass")

    assert admin.is_staff
    assert admin.is_superuser


def test_create_user_without_email_is_refused():
    with pytest.raises(ValueError, match="email address must be set"):
        User.objects.create_user("carol", "", "s3cret-pass")


def test_email_domain_is_normalised_on_save():
    user = UserFactory(email="  Carol@EXAMPLE.Com ")

    user.refresh_from_db()
    assert user.email == "Carol@example.com"


def test_blank_email_fails_validation():
    user = User(username="carol", email="")

    with pytest.raises(ValidationError) as excinfo:
        user.full_clean()

    assert "email" in excinfo.value.message_dict


def test_email_differing_only_in_case_is_refused_by_the_database():
    UserFactory(username="carol", email="carol@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(username="carol2", email="CAROL@example.com")


def test_email_differing_only_in_case_fails_validation():
    UserFactory(username="carol", email="carol@example.com")
    duplicate = User(username="carol2", email="Carol@Example.com")
    duplicate.set_unusable_password()

    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()

    assert "A user with that email address already exists." in str(excinfo.value)


def test_username_differing_only_in_case_is_refused_by_the_database():
    UserFactory(username="carol")

    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(username="Carol")


def test_str_is_the_username():
    assert str(UserFactory(username="carol")) == "carol"


def test_delete_user_removes_the_user_and_everything_theirs():
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.auth.models import Group

    from accounts.services import delete_user
    from tests.factories import TaskFactory
    from tests.utils import stored_tasks

    user, other = UserFactory(), UserFactory()
    TaskFactory.create_batch(3, owner=user)
    kept = TaskFactory(owner=other)
    with as_root():
        user.groups.add(Group.objects.create(name="team"))
    with acting_as(user):  # An entry names the acting user (ownership/guards.py).
        LogEntry.objects.log_actions(user.pk, [other], CHANGE, single_object=True)

    delete_user(user)

    assert not User.objects.filter(username=user.username).exists()
    assert stored_tasks() == [kept]
    assert Group.objects.get(name="team").user_set.count() == 0
    assert not LogEntry.objects.exists()


@pytest.mark.postgresql
def test_every_foreign_key_the_project_makes_to_users_cascades_in_the_database():
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, confdeltype FROM pg_constraint "
            "WHERE confrelid = 'accounts_user'::regclass AND contype = 'f' "
            # DRF's token table, which the suite adds as an API would.
            "AND conrelid::regclass::text NOT LIKE 'authtoken\\_%%' "
            "ORDER BY 1"
        )
        rows = cursor.fetchall()

    assert rows == [
        ("accounts_user_groups", "c"),
        ("accounts_user_user_permissions", "c"),
        ("django_admin_log", "c"),
        ("tasks_task", "c"),
    ]


@pytest.mark.postgresql
def test_delete_user_deletes_what_an_app_without_database_cascades_holds():
    from rest_framework.authtoken.models import Token

    from accounts.services import delete_user
    from tests.factories import TaskFactory

    user = UserFactory()
    TaskFactory.create_batch(2, owner=user)
    Token.objects.create(user=user)

    delete_user(user)

    assert not Token.objects.exists()
    assert not User.objects.filter(username=user.username).exists()


@pytest.mark.postgresql
def test_delete_user_is_one_statement():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.services import delete_user
    from tests.factories import TaskFactory

    user = UserFactory()
    TaskFactory.create_batch(5, owner=user)

    with CaptureQueriesContext(connection) as ran:
        delete_user(user)

    # Besides the user's scope (ownership/guards.py), which a savepoint
    # holds inside the test's transaction.
    writes = [query["sql"] for query in ran if "DELETE" in query["sql"]]
    assert len(writes) == 1
