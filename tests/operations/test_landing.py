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
