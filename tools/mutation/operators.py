"""Mutation operators: the mutants one Python module yields, and applying one of them.

Each mutant is a small textual edit located by the AST (so formatting, comments and line
numbers of the rest of the file stay as they are). Operators:

``compare``            a comparison operator moved across its boundary or negated:
                       ``<``->``<=``/``>=``, ``<=``->``<``/``>``, ``>``->``>=``/``<=``,
                       ``>=``->``>``/``<``, ``==``<->``!=``, ``in``<->``not in``,
                       ``is``<->``is not``
``constant``           an integer constant +1 and -1; ``True`` <-> ``False``; a one-byte
                       ``bytes`` constant +1 and -1 on its byte value (``b"\\x01"`` ->
                       ``b"\\x00"``)
``boolop``             ``and`` <-> ``or`` (every operator of one boolean expression)
``raise``              a ``raise`` statement replaced by ``pass``
``select_for_update``  ``.select_for_update()`` dropped from a queryset chain
``audit_record``       a call of ``audit.record(...)`` / ``audit_services.record(...)`` dropped
``drop_write``         a statement calling ``.save(...)``, ``.save_model(...)`` or
                       ``.bulk_create(...)`` dropped

Not mutated: docstrings, annotations, f-string internals, ``if TYPE_CHECKING:`` blocks,
``__all__``, and lines ending with ``# pragma: no mutate``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

OPERATORS = (
    "compare",
    "constant",
    "boolop",
    "raise",
    "select_for_update",
    "audit_record",
    "drop_write",
)

AUDIT_MODULE_NAMES = frozenset({"audit", "audit_services"})
WRITE_METHODS = frozenset({"save", "save_model", "bulk_create"})
NO_MUTATE = "# pragma: no mutate"

_COMPARE_TEXT: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_COMPARE_PATTERN: dict[type[ast.cmpop], str] = {
    ast.Lt: r"<(?!=)",
    ast.LtE: r"<=",
    ast.Gt: r">(?!=)",
    ast.GtE: r">=",
    ast.Eq: r"==",
    ast.NotEq: r"!=",
    ast.In: r"\bin\b",
    ast.NotIn: r"\bnot\s+in\b",
    ast.Is: r"\bis\b",
    ast.IsNot: r"\bis\s+not\b",
}
#: each comparison -> (boundary shift, negation) or (negation,)
COMPARE_MUTATIONS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
}


@dataclass(frozen=True)
class Edit:
    """Replace the source from (line, col) to (end_line, end_col) with ``text``.

    Lines are 1-based, columns are UTF-8 byte offsets (as in the AST).
    """

    line: int
    col: int
    end_line: int
    end_col: int
    text: str


@dataclass(frozen=True)
class Mutant:
    path: str  # repository-relative, forward slashes
    line: int
    col: int
    operator: str
    detail: str  # no spaces: "Lt->LtE", "200->201", "and->or", "raise->pass", "drop"
    edits: tuple[Edit, ...]
    first_line: int  # the line range whose coverage selects the tests
    last_line: int
    in_function: bool  # False: module/class level, executed at import time
    #: module level ``NAME = ...``: the names it binds (their uses select the tests)
    names: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """Stable name used by the equivalent-mutant allow-list and ``--select``."""
        return f"{self.path}:{self.line}:{self.col}:{self.operator}:{self.detail}"


def apply(source: str, mutant: Mutant) -> str:
    """The source with the mutant's edits applied (edits never overlap)."""
    lines = source.encode("utf-8").splitlines(keepends=True)
    starts = [0]
    for raw in lines:
        starts.append(starts[-1] + len(raw))
    data = source.encode("utf-8")

    def offset(line: int, col: int) -> int:
        return starts[line - 1] + col

    spans = sorted(
        ((offset(e.line, e.col), offset(e.end_line, e.end_col), e.text) for e in mutant.edits),
        reverse=True,
    )
    for start, end, text in spans:
        data = data[:start] + text.encode("utf-8") + data[end:]
    return data.decode("utf-8")


def _segment(lines: list[bytes], line: int, col: int, end_line: int, end_col: int) -> str:
    if line == end_line:
        return lines[line - 1][col:end_col].decode("utf-8")
    parts = [lines[line - 1][col:]]
    parts.extend(lines[line : end_line - 1])
    parts.append(lines[end_line - 1][:end_col])
    return b"".join(parts).decode("utf-8")


def _pos(node: ast.AST) -> tuple[int, int, int, int]:
    end_line = getattr(node, "end_lineno", None)
    end_col = getattr(node, "end_col_offset", None)
    assert end_line is not None and end_col is not None, "nodes of a parsed module have positions"
    return node.lineno, node.col_offset, end_line, end_col  # type: ignore[attr-defined]  # expr/stmt


class _Collector(ast.NodeVisitor):
    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.lines = source.encode("utf-8").splitlines(keepends=True)
        self.text_lines = source.splitlines()
        self.mutants: list[Mutant] = []
        self.function_depth = 0
        self.statement: ast.stmt | None = None
        self.defaults_of: tuple[int, int] | None = None  # body lines of the function

    # -- helpers
    def _skip_line(self, line: int) -> bool:
        return line <= len(self.text_lines) and self.text_lines[line - 1].rstrip().endswith(
            NO_MUTATE
        )

    def _add(
        self,
        node: ast.AST,
        operator: str,
        detail: str,
        edits: tuple[Edit, ...],
        at: tuple[int, int] | None = None,
    ) -> None:
        """Record a mutant of ``node``; ``at`` overrides its (line, col) in the id (an
        operator's own position, so two comparisons on one line stay distinct)."""
        line, col, end_line, _ = _pos(node)
        if at is not None:
            line, col = at
        if self._skip_line(line):
            return
        first = self.statement.lineno if self.statement is not None else line
        last = max(end_line, line)
        in_function = self.function_depth > 0
        if self.defaults_of is not None:
            first, last = self.defaults_of
            in_function = True
        names: tuple[str, ...] = ()
        if self.function_depth == 0 and isinstance(self.statement, ast.Assign | ast.AnnAssign):
            targets = (
                self.statement.targets
                if isinstance(self.statement, ast.Assign)
                else [self.statement.target]
            )
            names = tuple(t.id for t in targets if isinstance(t, ast.Name))
        self.mutants.append(
            Mutant(
                path=self.path,
                line=line,
                col=col,
                operator=operator,
                detail=detail,
                edits=edits,
                first_line=min(first, line) if self.defaults_of is None else first,
                last_line=last,
                in_function=in_function,
                names=names,
            )
        )

    # -- structure
    def visit_Module(self, node: ast.Module) -> None:
        self._body(node.body)

    def _body(self, body: list[ast.stmt]) -> None:
        for index, stmt in enumerate(body):
            if index == 0 and _is_docstring(stmt):
                continue
            self._statement(stmt)

    def _statement(self, stmt: ast.stmt) -> None:
        previous = self.statement
        self.statement = stmt
        try:
            self.visit(stmt)
        finally:
            self.statement = previous

    def generic_visit(self, node: ast.AST) -> None:
        for field, value in ast.iter_fields(node):
            if field in {"annotation", "returns", "type_comment"}:
                continue
            if isinstance(value, list):
                if value and all(isinstance(v, ast.stmt) for v in value):
                    self._body(value)
                    continue
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        # defaults are evaluated at definition time; the calls that use them select the tests
        end = getattr(node.body[-1], "end_lineno", None) or node.body[-1].lineno
        self.defaults_of = (node.body[0].lineno, end)
        try:
            self.visit(node.args)
        finally:
            self.defaults_of = None
        self.function_depth += 1
        try:
            self._body(node.body)
        finally:
            self.function_depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        for base in node.bases:
            self.visit(base)
        self._body(node.body)

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            self._body(node.orelse)
            return
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # positions inside f-strings are not reliable before Python 3.12

    # -- operators
    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            left, right = operands[index], operands[index + 1]
            _, _, gap_line, gap_col = _pos(left)
            gap_end_line, gap_end_col, _, _ = _pos(right)
            gap = _segment(self.lines, gap_line, gap_col, gap_end_line, gap_end_col)
            match = re.search(_COMPARE_PATTERN[type(op)], gap)
            if match is None:  # pragma: no cover - the operator is always in the gap
                continue
            for new_op in COMPARE_MUTATIONS[type(op)]:
                new_gap = gap[: match.start()] + _COMPARE_TEXT[new_op] + gap[match.end() :]
                detail = f"{type(op).__name__}->{new_op.__name__}"
                edit = Edit(gap_line, gap_col, gap_end_line, gap_end_col, new_gap)
                self._add(left, "compare", detail, (edit,), at=(gap_line, gap_col))
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        edits: list[Edit] = []
        for left, right in zip(node.values, node.values[1:], strict=False):
            _, _, line, col = _pos(left)
            end_line, end_col, _, _ = _pos(right)
            gap = _segment(self.lines, line, col, end_line, end_col)
            match = re.search(rf"\b{old}\b", gap)
            if match is None:  # pragma: no cover
                return
            edits.append(
                Edit(line, col, end_line, end_col, gap[: match.start()] + new + gap[match.end() :])
            )
        self._add(node, "boolop", f"{old}->{new}", tuple(edits))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        line, col, end_line, end_col = _pos(node)
        if isinstance(value, bool):  # True - 1 == False, False + 1 == True
            edit = Edit(line, col, end_line, end_col, str(not value))
            self._add(node, "constant", f"{value}->{not value}", (edit,))
        elif isinstance(value, int):
            for delta in (1, -1):
                new = value + delta
                text = str(new) if new >= 0 else f"({new})"
                edit = Edit(line, col, end_line, end_col, text)
                self._add(node, "constant", f"{value}->{new}", (edit,))
        elif isinstance(value, bytes) and len(value) == 1:
            for delta in (1, -1):
                byte = value[0] + delta
                if 0 <= byte <= 255:
                    edit = Edit(line, col, end_line, end_col, repr(bytes([byte])))
                    self._add(node, "constant", f"0x{value[0]:02x}->0x{byte:02x}", (edit,))

    def visit_Raise(self, node: ast.Raise) -> None:
        line, col, end_line, end_col = _pos(node)
        self._add(node, "raise", "raise->pass", (Edit(line, col, end_line, end_col, "pass"),))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "select_for_update":
            _, _, line, col = _pos(func.value)
            _, _, end_line, end_col = _pos(node)
            self._add(node, "select_for_update", "drop", (Edit(line, col, end_line, end_col, ""),))
        elif _is_audit_record(node) and not isinstance(self.statement, ast.Expr):
            line, col, end_line, end_col = _pos(node)
            self._add(node, "audit_record", "drop", (Edit(line, col, end_line, end_col, "None"),))
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        call = node.value
        if isinstance(call, ast.Call):
            line, col, end_line, end_col = _pos(node)
            edit = (Edit(line, col, end_line, end_col, "pass"),)
            if _is_audit_record(call):
                self._add(node, "audit_record", "drop", edit)
            elif isinstance(call.func, ast.Attribute) and call.func.attr in WRITE_METHODS:
                self._add(node, "drop_write", f"drop-{call.func.attr}", edit)
        self.generic_visit(node)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_audit_record(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "record"
        and isinstance(func.value, ast.Name)
        and func.value.id in AUDIT_MODULE_NAMES
    )


def mutants_of(path: str, source: str, operators: tuple[str, ...] = OPERATORS) -> list[Mutant]:
    """Every mutant of ``source`` (the module at repository path ``path``), in file order.

    Each mutant is checked to compile, so a broken edit can never count as a kill.
    """
    collector = _Collector(path, source)
    collector.visit(ast.parse(source, filename=path))
    found = [m for m in collector.mutants if m.operator in operators]
    for mutant in found:
        compile(apply(source, mutant), path, "exec")
    found.sort(key=lambda m: (m.line, m.col, m.operator, m.detail))
    return found


def name_uses(source: str, names: tuple[str, ...]) -> list[int]:
    """Lines inside functions that read one of ``names`` (a module constant's users)."""
    found: list[int] = []
    wanted = set(names)

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if (
                inside
                and isinstance(child, ast.Name)
                and child.id in wanted
                and isinstance(child.ctx, ast.Load)
            ):
                found.append(child.lineno)
            walk(child, inside)

    walk(ast.parse(source), False)
    return sorted(set(found))
