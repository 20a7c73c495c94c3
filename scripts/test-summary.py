#!/usr/bin/python3
"""Prints the closing line of a test run, 'N passed, N failed', from Meson's test log, with the
Criterion and unittest counts inside each suite added up."""
import json
import re
import sys

build = sys.argv[1] if len(sys.argv) > 1 else "build-test"
passed = failed = skipped = 0
try:
    with open(f"{build}/meson-logs/testlog.json") as f:
        for line in f:
            t = json.loads(line)
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            crit = re.search(r"Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)", out)
            unit = re.search(r"^Ran (\d+) tests?", out, re.M)
            ok = t["result"] in ("OK", "EXPECTEDFAIL")
            if crit:
                passed += int(crit.group(2))
                failed += int(crit.group(3)) + int(crit.group(4))
                if not ok and int(crit.group(3)) + int(crit.group(4)) == 0:
                    failed += 1
            elif unit:
                n = int(unit.group(1))
                bad = re.search(r"FAILED \((?:failures=(\d+))?(?:, )?(?:errors=(\d+))?", out)
                nbad = sum(int(x) for x in bad.groups() if x) if bad else (0 if ok else 1)
                skip = re.search(r"skipped=(\d+)", out)
                skipped += int(skip.group(1)) if skip else 0
                passed += n - nbad - (int(skip.group(1)) if skip else 0)
                failed += nbad
            elif t["result"] == "SKIP":
                skipped += 1
            elif ok:
                passed += 1
            else:
                failed += 1
except FileNotFoundError:
    print("0 passed, 1 failed (no test log)")
    sys.exit(1)
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
