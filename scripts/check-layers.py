#!/usr/bin/env python3
"""Fails when a file under src/<module>/ includes a private header of a module it may not use.

The allowed table is the one in docs/architecture.md (section "Layout", column "may use"), so
the docs and the check cannot drift apart: a row's "may use" cell names the modules a folder may
include from ("nothing but ..." and library names are ignored)."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = sorted(p.name for p in (ROOT / "src").iterdir() if p.is_dir())


def allowed_table():
    table = {}
    text = (ROOT / "docs" / "architecture.md").read_text()
    for line in text.splitlines():
        m = re.match(r"\|\s*`src/(\w+)/`\s*\|[^|]*\|([^|]*)\|\s*$", line)
        if m:
            uses = {w for w in re.findall(r"\w+", m.group(2)) if w in MODULES}
            table[m.group(1)] = uses
    return table


def closure(table, module, seen=None):
    """A module may include what it uses and, transitively, what those use."""
    seen = set() if seen is None else seen
    for dep in table.get(module, ()):
        if dep not in seen:
            seen.add(dep)
            closure(table, dep, seen)
    return seen


def main():
    table = allowed_table()
    problems = []
    for module in MODULES:
        if module == "testing":
            continue  # test-only helpers may use anything
        if module not in table:
            problems.append(f"src/{module}/ has no row in docs/architecture.md")
            continue
        allowed = closure(table, module) | {module, "testing"}
        for path in sorted((ROOT / "src" / module).glob("*")):
            if path.suffix not in (".h", ".cc"):
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                inc = re.match(r'#include "(\w+)/', line)
                if inc and inc.group(1) not in allowed:
                    if inc.group(1) == "testing" and not path.name.endswith("test.cc"):
                        problems.append(f"{path.relative_to(ROOT)}:{n}: production code includes testing/")
                    elif inc.group(1) != "testing":
                        problems.append(
                            f"{path.relative_to(ROOT)}:{n}: {module} may not include {inc.group(1)}/"
                        )
    for p in problems:
        print(p)
    print(f"layers: {len(MODULES)} modules checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
