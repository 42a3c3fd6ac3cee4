"""A request's scope across logins, and what a request may leave behind."""

import logging

import pytest
from django.contrib.auth import login
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from ownership.middleware import ActingUserMiddleware
from ownership.proofs import install_scope_keys
from tasks import services
from tests.factories import TaskFactory
from tests.utils import stored_tasks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


def request_of(user):
    request = RequestFactory().post("/login/")
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    request.user = user
    if user is not None:
        login(request, user)
    return request


def test_logging_in_as_another_user_mid_request_acts_for_the_new_one(user, other_user):
    TaskFactory(owner=other_user, title="bob's")
    seen = []

    def view(request):
        login(request, other_user)  # Logged in as alice, logging in as bob.
        seen.append(services.count_tasks(request.user))
        return HttpResponse()

    response = ActingUserMiddleware(view)(request_of(user))

    assert response.status_code == 200
    assert seen == [(1, 0)]
    other_user.refresh_from_db()
    assert other_user.last_login is not None


def test_a_transaction_left_open_by_a_request_ends_with_it(user, other_user, caplog):
    def injected(request):
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")  # Behind Django's back.
        return HttpResponse()

    def create(request):
        services.create_task(request.user, title="kept")
        return HttpResponse()

    with caplog.at_level(logging.WARNING, logger="ownership.liveness"):
        ActingUserMiddleware(injected)(request_of(user))
    ActingUserMiddleware(create)(request_of(other_user))
    connection.close()

    assert [task.title for task in stored_tasks(owner=other_user)] == ["kept"]
    assert "left a transaction open" in caplog.text


def test_migrate_with_no_secret_key_installs_no_key_and_says_so(as_owner, caplog):
    with (
        override_settings(SECRET_KEY="", SECRET_KEY_FALLBACKS=[]),
        caplog.at_level(logging.WARNING, logger="ownership.proofs"),
    ):
        install_scope_keys("default")

    assert "no scope key installed: DJANGO_SECRET_KEY is not set" in caplog.text
