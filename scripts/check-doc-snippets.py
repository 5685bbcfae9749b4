#!/usr/bin/env python3
"""Checks that every `<!-- snippet: NAME -->` code block in docs/*.md is, line for line, the text
between the `// [NAME]` markers of examples/tasks/tasks.cc, so the docs quote code that compiles."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "examples" / "tasks" / "tasks.cc"


def source_snippets():
    snippets, current, name = {}, None, None
    for line in SOURCE.read_text().splitlines():
        marker = re.fullmatch(r"// \[(\w+)\]", line.strip())
        if marker and name is None:
            name, current = marker.group(1), []
        elif marker and marker.group(1) == name:
            snippets[name] = "\n".join(current).strip()
            name = None
        elif name is not None:
            current.append(line)
    return snippets


def main():
    known = source_snippets()
    failures, checked = [], 0
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = doc.read_text()
        for m in re.finditer(r"<!-- snippet: (\w+) -->\n```cpp\n(.*?)```", text, re.S):
            checked += 1
            name, body = m.group(1), m.group(2).strip()
            if known.get(name) != body:
                failures.append(f"{doc.relative_to(ROOT)}: snippet '{name}' differs from {SOURCE.name}")
    for f in failures:
        print(f)
    print(f"doc snippets: {checked - len(failures)} matched, {len(failures)} differ")
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
