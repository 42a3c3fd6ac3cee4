"""tests/data/releases.json and CHANGELOG.md agree with the repository's history."""

import re
import subprocess

import pytest

from tests.upgrade.releases import INTERMEDIATE, RELEASES
from tests.utils import ROOT

CHANGELOG = ROOT / "CHANGELOG.md"


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )


def last_migrations(commit: str) -> dict[str, str]:
    """Return {app: its newest migration} in the tree of `commit`."""
    listed = git("ls-tree", "-r", "--name-only", commit).stdout.splitlines()
    found: dict[str, str] = {}
    for path in sorted(listed):
        match = re.fullmatch(r"(\w+)/migrations/(\d{4}_\w+)\.py", path)
        if match:
            found[match[1]] = match[2]
    return found


def version(release: dict) -> tuple[int, ...]:
    return tuple(int(part) for part in release["version"].split("."))


def test_releases_come_in_order_of_version_and_history():
    assert [version(r) for r in RELEASES] == sorted({version(r) for r in RELEASES})
    for older, newer in zip(RELEASES, RELEASES[1:], strict=False):
        ancestor = git("merge-base", "--is-ancestor", older["commit"], newer["commit"])
        assert ancestor.returncode == 0, (older["version"], newer["version"])
    newest = git("merge-base", "--is-ancestor", RELEASES[-1]["commit"], "HEAD")
    assert newest.returncode == 0, "the newest release is not in this history"


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r["version"])
def test_a_release_names_the_last_migration_of_each_app_in_its_commit(release):
    assert release["migrations"] == last_migrations(release["commit"])


@pytest.mark.parametrize("commit", INTERMEDIATE, ids=lambda c: c["name"])
def test_an_intermediate_commit_is_of_main_between_releases(commit):
    assert commit["migrations"] == last_migrations(commit["commit"])
    assert commit["why"]
    assert commit["commit"] not in {release["commit"] for release in RELEASES}
    first = RELEASES[0]["commit"]
    after_first = git("merge-base", "--is-ancestor", first, commit["commit"])
    assert after_first.returncode == 0, f"{commit['name']} is older than any release"
    ancestor = git("merge-base", "--is-ancestor", commit["commit"], "HEAD")
    assert ancestor.returncode == 0, f"{commit['name']} is not in this history"


def test_the_changelog_has_each_release_with_its_commit():
    text = CHANGELOG.read_text()

    for release in RELEASES:
        heading = re.search(
            rf"^## {re.escape(release['version'])} \S.*$", text, re.MULTILINE
        )
        assert heading, f"CHANGELOG.md has no heading for {release['version']}"
        assert release["commit"] in text, release["version"]
