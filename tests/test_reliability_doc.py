"""docs/RELIABILITY.md lists every bad input and fault tried; each row names the tests that
reproduce it, and those tests must exist (so the table cannot drift from the suite)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_ID = re.compile(r"`(tests/test_\w+\.py)::(\w+)(?:\[[^\]`]*\])?`")


def table_rows() -> list[str]:
    lines = (REPO / "docs" / "RELIABILITY.md").read_text(encoding="utf-8").splitlines()
    return [line for line in lines
            if line.startswith("| ") and not line.startswith("| #") and not set(line) <= set("|- ")]


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_row_names_tests_that_exist():
    rows = table_rows()
    assert len(rows) >= 35
    for row in rows:
        named = TEST_ID.findall(row)
        assert named, f"no test named in: {row}"
        for file, name in named:
            assert name in defined_tests(REPO / file), f"{file}::{name} does not exist ({row})"
