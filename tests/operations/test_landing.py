"""`/`: a landing page on the development server, a 404 in production."""

import pytest

from tasks import sample_data


@pytest.fixture
def password(settings):
    settings.SAMPLE_USER_PASSWORD = ""
    return sample_data.derived_password(sample_data.DEFAULT_SEED)


def test_landing_page_in_development_links_and_gives_the_login(
    client, settings, password
):
    settings.DEBUG = True

    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/admin/"' in page
    assert 'href="/healthz"' in page
    assert "<code>admin</code>" in page
    assert "<code>sample-0001</code>" in page
    assert f"the password <code>{password}</code>" in page
    assert "DEBUG on" in page


def test_landing_page_names_the_password_variable_when_it_is_set(client, settings):
    settings.DEBUG = True
    settings.SAMPLE_USER_PASSWORD = "never-shown"

    page = client.get("/").content.decode()

    assert "never-shown" not in page
    assert "<code>SAMPLE_USER_PASSWORD</code>" in page


def test_no_landing_page_and_no_login_in_production(client, settings, password):
    settings.DEBUG = False

    response = client.get("/")

    assert response.status_code == 404
    assert password not in response.content.decode()
    assert "sample-0001" not in response.content.decode()


def test_landing_page_says_what_the_sample_users_are_for(client, settings, password):
    settings.DEBUG = True

    page = " ".join(client.get("/").content.decode().split())

    assert "They cannot log in to the admin, which is for staff" in page
    assert 'User.objects.get(username="sample-0001")' in page
    assert "and the others <code>make run</code> printed" not in page


def test_landing_page_lists_the_replicas(client, settings, monkeypatch, password):
    settings.DEBUG = True
    monkeypatch.setitem(
        settings.DATABASES,
        "replica_1",
        {
            **settings.DATABASES["default"],
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "todoproject",
            "HOST": "standby.example",
            "PORT": "5433",
            "USER": "todoproject_app",
        },
    )
    settings.DATABASE_REPLICAS = ["replica_1"]

    page = client.get("/").content.decode()

    assert (
        "<li><code>replica_1</code>: PostgreSQL, database todoproject on "
        "standby.example:5433 as todoproject_app</li>"
    ) in page


def test_landing_page_names_no_replica_without_one(client, settings, password):
    settings.DEBUG = True
    settings.DATABASE_REPLICAS = []

    assert "streaming replicas" not in client.get("/").content.decode()
