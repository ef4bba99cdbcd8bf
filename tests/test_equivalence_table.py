"""The equivalence table: answer pairs with known verdicts, run as ``grader compare`` runs them.

Cases live in ``tests/data/equivalence/*.json``, each ``{"kind", "expected", "answer",
"options", "equivalent", "source", "note"}``. Most are re-expressed from public answer-test
tables (STACK's answer-test fixtures, PrairieLearn's sympy tests, the MITx grading
library's tests); the rest come from HW2's rubric and reference and from issue 3. Each
case is run through :func:`grader.compare.compare_case`, the function behind the command,
and must give exactly its recorded verdict: True, False, or None (rejected/undecidable).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from grader.cli import main
from grader.compare import compare_case, run

TABLE = Path(__file__).parent / "data" / "equivalence"
CASE_KEYS = ("kind", "expected", "answer", "options")
PUBLIC_SOURCES = {
    "maths/moodle-qtype_stack": "tests/fixtures/answertestfixtures.class.php",
    "PrairieLearn/PrairieLearn": "apps/prairielearn/python/test/sympy_utils_test.py",
    "mitodl/mitx-grading-library": "tests/formulagrader/",
}


def _load() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(TABLE.glob("*.json")):
        for i, case in enumerate(json.loads(path.read_text("utf-8"))):
            cases.append({**case, "_id": f"{path.stem}-{i}"})
    return cases


CASES = _load()


@pytest.mark.parametrize("case", CASES, ids=[c["_id"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    result = compare_case({k: case[k] for k in CASE_KEYS})
    assert set(result) == {"equivalent", "message"}
    assert result["equivalent"] is case["equivalent"], (
        f"{case['expected']!r} vs {case['answer']!r} {case['options']}: {result['message']}")
    assert isinstance(result["message"], str) and result["message"]


def test_table_size_and_balance() -> None:
    verdicts = Counter(c["equivalent"] for c in CASES)
    assert len(CASES) >= 150
    # At least half of the cases are near misses that must be told apart.
    assert verdicts[False] >= len(CASES) / 2, verdicts
    assert verdicts[True] >= 100 and verdicts[None] >= 10


def test_every_case_cites_its_source() -> None:
    for case in CASES:
        assert set(case) >= {*CASE_KEYS, "equivalent", "source"}, case["_id"]
        repo, _, path = case["source"].partition(": ")
        assert repo and path, case["_id"]
    sources = Counter(c["source"].partition(": ")[0] for c in CASES)
    for repo, path in PUBLIC_SOURCES.items():
        assert sources[repo] >= 20, (repo, sources)
        assert any(c["source"].startswith(f"{repo}: {path}") for c in CASES), repo


def test_kinds_and_options_are_covered() -> None:
    kinds = Counter(c["kind"] for c in CASES)
    assert kinds["numeric"] >= 50 and kinds["symbolic"] >= 100
    used = {key for c in CASES for key in c["options"]}
    assert used >= {"rtol", "atol", "sigfigs", "decimals", "unordered", "equal_nan",
                    "bool_as_number", "up_to_sign", "up_to_scale", "variables", "assumptions",
                    "domain", "compare", "input_syntax", "functions", "form"}


def test_the_command_prints_one_json_line_per_case(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    chosen = [CASES[0], CASES[-1], {"kind": "numeric", "expected": "1", "answer": "1"},
              {"kind": "tensor"}, 42]
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([{k: v for k, v in c.items() if k in CASE_KEYS}
                                if isinstance(c, dict) else c for c in chosen]))
    assert main(["compare", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(chosen)
    results = [json.loads(line) for line in lines]
    assert results[0]["equivalent"] is CASES[0]["equivalent"]
    assert results[2] == {"equivalent": True, "message": "equal"}
    assert results[3]["equivalent"] is None and "kind" in results[3]["message"]
    assert results[4]["equivalent"] is None


@pytest.mark.parametrize(("content", "fragment"), [
    ("not json", "not valid JSON"),
    ('{"kind": "numeric"}', "expected a JSON list"),
])
def test_the_command_refuses_a_file_that_is_not_a_list(tmp_path: Path, content: str,
                                                      fragment: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cases.json"
    path.write_text(content)
    assert main(["compare", str(path)]) == 2
    assert fragment in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "missing.json")]) == 2


def test_run_writes_to_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([{"kind": "symbolic", "expected": "x**2", "answer": "x*x",
                                 "options": {"variables": ["x"]}}]))
    out = io.StringIO()
    assert run(path, out) == 0
    assert json.loads(out.getvalue())["equivalent"] is True


@pytest.mark.parametrize("case", [
    {"kind": "symbolic", "expected": "x", "answer": "x",
     "options": {"assumptions": {"y": "positive"}}},
    {"kind": "symbolic", "expected": "x", "answer": "x",
     "options": {"assumptions": {"x": "happy"}}},
    {"kind": "symbolic", "expected": "x", "answer": "x",
     "options": {"assumptions": {"x": "positive negative"}}},
    {"kind": "symbolic", "expected": "x", "answer": "x", "options": {"compare": "sets"}},
    {"kind": "symbolic", "expected": "x", "answer": "x", "options": {"form": ["tidy"]}},
    {"kind": "symbolic", "expected": "x", "answer": "x", "options": {"input_syntax": "latex"}},
    {"kind": "symbolic", "expected": "x", "answer": "x", "options": {"domain": {"x": [2, 1]}}},
    {"kind": "symbolic", "expected": "x", "answer": "x", "options": {"sigfigs": 3}},
    {"kind": "numeric", "expected": "1", "answer": "1", "options": {"sigfigs": 2, "decimals": 2}},
    {"kind": "numeric", "expected": "1", "answer": "1", "options": {"unordered": "yes"}},
    {"kind": "numeric", "expected": "1", "answer": "1", "options": {"variables": ["x"]}},
    {"kind": "numeric", "expected": "1", "answer": "1", "options": {"rtol": -1}},
    {"kind": "numeric", "expected": "1", "answer": "1", "options": {"value": 2}},
    {"kind": "numeric", "expected": "1", "answer": "1", "options": []},
    {"kind": "numeric", "expected": 1, "answer": "1", "options": {}},
    {"kind": "numeric", "expected": "[1, 2", "answer": "1", "options": {}},
    {"kind": "symbolic", "expected": "x +", "answer": "x", "options": {}},
])
def test_malformed_cases_are_null_never_a_crash(case: dict[str, Any]) -> None:
    result = compare_case(case)
    assert result["equivalent"] is None and result["message"]
