#!/usr/bin/env python3
"""Reads meson's test logs in the build directories given (testlog.json
and one testlog-SETUP.json per test setup run) and prints the totals as
the single line "N passed, N failed" (skipped tests are neither).  Exits 1
when any test failed or no test ran."""

import glob
import json
import os
import sys

PASS = {"OK", "EXPECTEDFAIL"}
FAIL = {"FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS"}


def main(dirs):
    passed = failed = 0
    paths = []
    for d in dirs:
        found = sorted(glob.glob(os.path.join(d, "meson-logs",
                                              "testlog*.json")))
        paths.extend(found or [os.path.join(d, "meson-logs",
                                            "testlog.json")])
    for path in paths:
        try:
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    result = json.loads(line).get("result")
                    if result in PASS:
                        passed += 1
                    elif result in FAIL:
                        failed += 1
        except OSError as e:
            print("count-tests: cannot read '%s': %s" % (path, e.strerror),
                  file=sys.stderr)
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["build"]))
