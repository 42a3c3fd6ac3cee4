"""The admin, driven in a real headless Chromium (Debian's, with ChromeDriver).

A staff member logs in, lists tasks, searches, filters, marks tasks done
with the action, edits a task and deletes a user, whose tasks disappear.
Screenshots of each step go to results/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.factories import TaskFactory, UserFactory
from tests.utils import stored_task, stored_tasks

pytestmark = [pytest.mark.postgresql, pytest.mark.browser]

# As scripts/browser.sh finds them.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = (
    os.environ.get("CHROMEDRIVER")
    or shutil.which("chromedriver")
    or "/usr/bin/chromedriver"
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "results" / "screenshots"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            "Chromium is not installed: run scripts/browser.sh (make test does)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def shoot(browser):
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    count = iter(range(1, 100))

    def save(name: str) -> None:
        browser.save_screenshot(str(SCREENSHOTS / f"{next(count):02d}-{name}.png"))

    return save


def click_and_wait(browser, element) -> None:
    """Click `element` and wait until the browser has left the page."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, 10).until(ec.staleness_of(page))


def submit(browser, selector="input[type=submit], button[type=submit]"):
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, selector))


def result_titles(browser) -> list[str]:
    return [
        cell.text
        for cell in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody th a")
    ]


@pytest.mark.django_db(transaction=True)
def test_staff_member_works_through_the_admin(live_server, browser, shoot):
    UserFactory(username="staff", is_staff=True, is_superuser=True)
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    milk = TaskFactory(owner=alice, title="Buy milk")
    TaskFactory(owner=alice, title="Write report")
    TaskFactory(owner=alice, title="Call mum", completed=True)
    TaskFactory(owner=bob, title="Fix bike")
    TaskFactory(owner=bob, title="Buy milk for bob")
    wait = WebDriverWait(browser, 10)

    # Log in.
    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.NAME, "username").send_keys("staff")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    shoot("login")
    submit(browser)
    wait.until(ec.presence_of_element_located((By.ID, "user-tools")))

    # The task list shows everyone's tasks, newest first.
    browser.get(f"{live_server.url}/admin/tasks/task/")
    assert result_titles(browser) == [
        "Buy milk for bob",
        "Fix bike",
        "Call mum",
        "Write report",
        "Buy milk",
    ]
    shoot("tasks")

    # Search by title, then by the owner's email.
    search = browser.find_element(By.ID, "searchbar")
    search.send_keys("milk")
    submit(browser, "#changelist-search input[type=submit]")
    assert sorted(result_titles(browser)) == ["Buy milk", "Buy milk for bob"]
    search = browser.find_element(By.ID, "searchbar")
    search.clear()
    search.send_keys("bob@example.com")
    submit(browser, "#changelist-search input[type=submit]")
    assert sorted(result_titles(browser)) == ["Buy milk for bob", "Fix bike"]
    shoot("search")

    # Filter to open tasks.
    browser.get(f"{live_server.url}/admin/tasks/task/")
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "No"))
    assert "Call mum" not in result_titles(browser)
    assert len(result_titles(browser)) == 4
    shoot("filter-open")

    # Mark two of alice's tasks done with the action.
    for title in ("Buy milk", "Write report"):
        row = browser.find_element(
            By.XPATH,
            f'//tr[th/a[normalize-space()="{title}"]]//input[@type="checkbox"]',
        )
        row.click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("mark_done")
    submit(browser, 'button[name="index"]')
    message = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist li"))
    )
    assert message.text == "2 tasks marked as done."
    assert {t.title for t in stored_tasks(owner=alice, completed=True)} == {
        "Buy milk",
        "Write report",
        "Call mum",
    }
    shoot("marked-done")

    # Edit a task.
    browser.get(f"{live_server.url}/admin/tasks/task/{milk.pk}/change/")
    title = browser.find_element(By.NAME, "title")
    title.clear()
    title.send_keys("Buy oat milk")
    shoot("edit")
    submit(browser, 'input[name="_save"]')
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist li")))
    assert stored_task(milk.pk).title == "Buy oat milk"

    # Delete bob: his tasks go with him.
    browser.get(f"{live_server.url}/admin/accounts/user/{bob.pk}/delete/")
    shoot("delete-user")
    submit(browser, 'input[type="submit"]')
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist li")))
    assert stored_tasks(owner_id=bob.pk) == []
    assert len(stored_tasks()) == 3
    browser.get(f"{live_server.url}/admin/tasks/task/")
    assert "Fix bike" not in result_titles(browser)
    shoot("after-delete")
