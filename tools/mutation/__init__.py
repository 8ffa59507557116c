"""Mutation testing for the money, audit and scope modules (``make mutation``).

A small AST-based mutator (see docs/decisions/0007-mutation-testing.md):

- ``operators``: which mutants a module yields and how one is applied to the source text;
- ``coverage_map``: which tests execute which lines (coverage.py dynamic contexts);
- ``runner``: one mutant at a time in a throw-away copy of the repository, the mapped tests
  only (``pytest -x``), killed / survived / timeout per module, equivalent mutants excluded.
"""
