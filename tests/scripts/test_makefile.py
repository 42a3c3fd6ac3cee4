"""`make help` lists every target the Makefile declares, with its text."""

import re
import subprocess

from tests.utils import ROOT


def test_make_help_lists_every_target_with_its_description():
    makefile = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY: (.+)$", makefile, re.MULTILINE).group(1).split()
    described = dict(re.findall(r"^## ([a-z-]+): (.+)$", makefile, re.MULTILINE))

    result = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    listed = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert sorted(listed) == sorted(phony)
    assert listed == described
