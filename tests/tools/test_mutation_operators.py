"""The mutation tool's own tests: each operator, the edits, test selection and the score."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tools.mutation.operators import Mutant, apply, mutants_of, name_uses
from tools.mutation.runner import (
    KILLED,
    SURVIVED,
    TIMEOUT,
    CoverageMap,
    Result,
    _db_url,
    load_equivalent,
    order_tests,
    summarize,
)


def _src(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


def _mutated(source: str, operator: str) -> dict[str, str]:
    """detail -> the mutated source line(s) that changed."""
    out: dict[str, str] = {}
    for mutant in mutants_of("m.py", source, (operator,)):
        new = apply(source, mutant).splitlines()
        old = source.splitlines()
        changed = [n for o, n in zip(old, new, strict=False) if o != n]
        if len(new) != len(old):
            changed = new
        out[f"{mutant.line}:{mutant.detail}"] = "\n".join(s.strip() for s in changed)
    return out


def test_mutation_compare_moves_the_boundary_and_negates() -> None:
    source = _src(
        """
        def f(a, b):
            if a < b and a != 0:
                return a in b
        """
    )
    assert _mutated(source, "compare") == {
        "2:Lt->LtE": "if a <= b and a != 0:",
        "2:Lt->GtE": "if a >= b and a != 0:",
        "2:NotEq->Eq": "if a < b and a == 0:",
        "3:In->NotIn": "return a not in b",
    }


def test_mutation_compare_chains_mutate_each_operator_alone() -> None:
    source = "def f(x):\n    return 0 <= x < 10\n"
    assert set(_mutated(source, "compare").values()) == {
        "return 0 < x < 10",
        "return 0 > x < 10",
        "return 0 <= x <= 10",
        "return 0 <= x >= 10",
    }


def test_mutation_is_not_and_not_in_are_matched_whole() -> None:
    source = "def f(x, y):\n    return x is not None and y not in x\n"
    assert set(_mutated(source, "compare").values()) == {
        "return x is None and y not in x",
        "return x is not None and y in x",
    }


def test_mutation_constants_plus_minus_one_bools_and_single_bytes() -> None:
    source = _src(
        """
        PREFIX = b"\\x01"
        def f(x=False):
            return x[0] - 2
        """
    )
    assert _mutated(source, "constant") == {
        "1:0x01->0x02": "PREFIX = b'\\x02'",
        "1:0x01->0x00": "PREFIX = b'\\x00'",
        "2:False->True": "def f(x=True):",
        "3:0->1": "return x[1] - 2",
        "3:0->-1": "return x[(-1)] - 2",
        "3:2->3": "return x[0] - 3",
        "3:2->1": "return x[0] - 1",
    }


def test_mutation_boolop_swaps_every_operator_of_one_expression() -> None:
    source = "def f(a, b, c):\n    return a and b and (c or a)\n"
    assert set(_mutated(source, "boolop").values()) == {
        "return a or b or (c or a)",
        "return a and b and (c and a)",
    }


def test_mutation_raise_becomes_pass_even_on_one_line() -> None:
    source = _src(
        """
        def f(x):
            if x: raise ValueError(
                "multi-line"
            )
            return x
        """
    )
    (mutant,) = mutants_of("m.py", source, ("raise",))
    assert apply(source, mutant) == "def f(x):\n    if x: pass\n    return x\n"


def test_mutation_drops_select_for_update_from_a_multiline_chain() -> None:
    source = _src(
        """
        def f(M):
            return (
                M.objects.select_for_update()
                .filter(a=1)
            )
        """
    )
    (mutant,) = mutants_of("m.py", source, ("select_for_update",))
    assert "select_for_update" not in apply(source, mutant)
    assert "M.objects\n        .filter(a=1)" in apply(source, mutant)


def test_mutation_drops_audit_record_and_writes() -> None:
    source = _src(
        """
        def f(obj):
            audit.record("x.y", obj)
            event = audit_services.record("x.z", obj)
            obj.save(update_fields=["a"])
            super().save_model(1, obj, 2, 3)
            obj.refresh_from_db()
            return event
        """
    )
    records = {m.line: apply(source, m) for m in mutants_of("m.py", source, ("audit_record",))}
    assert "    pass\n    event = audit_services" in records[2]
    assert "event = None\n" in records[3]
    writes = mutants_of("m.py", source, ("drop_write",))
    assert [(m.line, m.detail) for m in writes] == [(4, "drop-save"), (5, "drop-save_model")]


def test_mutation_skips_docstrings_annotations_fstrings_type_checking_and_pragmas() -> None:
    source = _src(
        '''
        """Module docstring 1 < 2."""
        from typing import TYPE_CHECKING, Literal
        __all__ = ["f"]
        if TYPE_CHECKING:
            X: Literal[1] = 1
        def f(x: Literal[3]) -> Literal[4]:
            """Docstring with 5."""
            y: Literal[6] = f"{x + 7}"
            return x + 8  # pragma: no mutate
        '''
    )
    assert mutants_of("m.py", source) == []


def test_mutation_columns_are_utf8_bytes() -> None:
    source = 'def f(x):\n    return "ñandú" if x > 1 else "é"\n'
    for mutant in mutants_of("m.py", source, ("compare",)):
        assert apply(source, mutant).count("ñandú") == 1
        compile(apply(source, mutant), "m.py", "exec")


def test_mutation_ids_are_stable_and_distinct() -> None:
    source = "def f(a, b):\n    return a < b, a < b\n"
    ids = [m.id for m in mutants_of("pkg/m.py", source)]
    assert len(ids) == len(set(ids)) == 4
    assert "pkg/m.py:2:12:compare:Lt->LtE" in ids


def test_mutation_module_constants_select_the_tests_of_their_users() -> None:
    source = _src(
        """
        LIMIT = 200
        def f(x):
            return x > LIMIT
        def g():
            return 1
        """
    )
    (plus, minus) = mutants_of("m.py", source, ("constant",))[:2]
    assert (plus.in_function, plus.names) == (False, ("LIMIT",))
    assert name_uses(source, ("LIMIT",)) == [3]
    cmap = CoverageMap(
        lines={"m.py": {3: ["t::uses_f"], 5: ["t::uses_g"]}},
        module_tests={"m.py": ["t::uses_f", "t::uses_g"]},
        durations={},
        fingerprint="",
    )
    assert cmap.tests_for(plus, source) == ["t::uses_f"]
    assert cmap.tests_for(minus, source) == ["t::uses_f"]
    default = Mutant("m.py", 9, 0, "constant", "x", (), 1, 1, in_function=False)
    assert cmap.tests_for(default, source) == ["t::uses_f", "t::uses_g"]


def test_mutation_default_arguments_select_the_tests_of_the_function() -> None:
    source = "def f(limit=500):\n    return limit\n\ndef g():\n    return 2\n"
    (mutant, _) = mutants_of("m.py", source, ("constant",))[:2]
    assert (mutant.in_function, mutant.first_line, mutant.last_line) == (True, 2, 2)


def test_mutation_orders_tests_of_the_modules_own_area_first_then_fastest() -> None:
    tests = ["tests/orders/a.py::t", "tests/ledger/b.py::slow", "tests/ledger/c.py::fast"]
    durations = {"tests/ledger/b.py::slow": 5.0, "tests/ledger/c.py::fast": 0.1}
    assert order_tests(tests, "aventide/ledger/services.py", durations) == [
        "tests/ledger/c.py::fast",
        "tests/ledger/b.py::slow",
        "tests/orders/a.py::t",
    ]


def test_mutation_equivalent_entries_need_a_reason(tmp_path: Path) -> None:
    good = tmp_path / "eq.txt"
    good.write_text("# comment\n\na.py:1:0:raise:raise->pass unreachable: guarded above\n")
    assert load_equivalent(good) == {"a.py:1:0:raise:raise->pass": "unreachable: guarded above"}
    bad = tmp_path / "bad.txt"
    bad.write_text("a.py:1:0:raise:raise->pass\n")
    with pytest.raises(SystemExit, match="reason"):
        load_equivalent(bad)


def test_mutation_worker_databases_get_their_own_name() -> None:
    url = "postgres://postgres@127.0.0.1:5432/aventide?sslmode=disable"
    assert _db_url(url, "mw1") == "postgres://postgres@127.0.0.1:5432/aventide_mw1?sslmode=disable"


def test_mutation_score_excludes_equivalent_mutants() -> None:
    results = [
        Result("a", "m.py", 1, "raise", KILLED),
        Result("b", "m.py", 2, "raise", TIMEOUT),
        Result("c", "m.py", 3, "raise", SURVIVED),
        Result("d", "m.py", 4, "raise", "equivalent"),
    ]
    row = summarize(results, ["m.py"])["total"]
    assert (row["mutants"], row["killed"], row["timeout"], row["equivalent"]) == (4, 1, 1, 1)
    assert row["score"] == pytest.approx(66.7)
