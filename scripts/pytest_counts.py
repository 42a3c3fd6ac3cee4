"""Print what one pytest run did, from its JUnit XML, for make test's summary.

    python scripts/pytest_counts.py RESULTS.xml

One line of counts ("812 passed, 3 skipped"), then one line per distinct
skip reason with how many tests it skipped. Standard library only.
"""

import sys
from collections import Counter
from xml.etree import ElementTree


def main(path: str) -> None:
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        print("no results (pytest ended before writing them)")
        return
    outcomes = Counter()
    reasons = Counter()
    for case in root.iter("testcase"):
        if case.find("skipped") is not None:
            outcomes["skipped"] += 1
            message = case.find("skipped").get("message", "")
            reasons[message.removeprefix("Skipped: ") or "no reason given"] += 1
        elif case.find("failure") is not None:
            outcomes["failed"] += 1
        elif case.find("error") is not None:
            outcomes["errors"] += 1
        else:
            outcomes["passed"] += 1
    order = ("passed", "failed", "errors", "skipped")
    counts = [f"{outcomes[name]:,} {name}" for name in order if outcomes[name]]
    print(", ".join(counts) or "no tests selected")
    for reason, number in sorted(reasons.items()):
        print(f"skipped {number}: {reason}")


if __name__ == "__main__":
    main(sys.argv[1])
