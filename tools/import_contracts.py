"""A custom import-linter contract: apps import each other only through public surfaces.

    [[tool.importlinter.contracts]]
    name = "..."
    type = "public_surface"
    apps = ["aventide.accounts", ...]          # the apps whose insides are private
    public = ["services", "selectors", "errors", "contracts"]   # per-app public modules
    also_public = ["aventide.markets.policy", "audit.actions"] # extra public modules
    exempt = ["aventide.urls", "aventide.admin", ...]          # the composition root

Every direct import of a module of app A by a module outside A must target A itself, one of
A's public modules (or a submodule of one), or an ``also_public`` module -- unless the
importer is exempt (the composition root wires every app). Registered in pyproject.toml
(``contract_types``) and run by ``make imports`` / ``make test``.
"""

from __future__ import annotations

from typing import Any

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


class PublicSurfaceContract(Contract):
    type_name = "public_surface"

    apps = fields.ListField(subfield=fields.StringField())
    public = fields.ListField(subfield=fields.StringField())
    also_public = fields.ListField(subfield=fields.StringField(), required=False)
    exempt = fields.ListField(subfield=fields.StringField(), required=False)

    def _strings(self, name: str) -> list[str]:
        """A configured list option (the descriptor holds the parsed value per instance)."""
        value: Any = getattr(self, name)
        return [str(item) for item in (value or [])]

    def _is_public(self, app: str, module: str) -> bool:
        if module == app:
            return True
        if any(_within(module, f"{app}.{name}") for name in self._strings("public")):
            return True
        return any(_within(module, extra) for extra in self._strings("also_public"))

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        apps = self._strings("apps")
        exempt = self._strings("exempt")
        violations: list[dict[str, Any]] = []
        for app in apps:
            modules = {app} | set(graph.find_descendants(app))
            for module in sorted(modules):
                if self._is_public(app, module):
                    continue
                for importer in sorted(graph.find_modules_that_directly_import(module)):
                    if _within(importer, app) or any(_within(importer, e) for e in exempt):
                        continue
                    # A sub-app (aventide.accounts) inside another root package (aventide)
                    # is outside its parent's "app": only the app boundary matters here.
                    details = graph.get_import_details(importer=importer, imported=module)
                    violations.append(
                        {
                            "importer": importer,
                            "imported": module,
                            "app": app,
                            "lines": [d["line_number"] for d in details],
                        }
                    )
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        public = ", ".join(self._strings("public"))
        for violation in check.metadata["violations"]:
            lines = ", ".join(f"l.{n}" for n in violation["lines"]) or "?"
            output.print_error(
                f"{violation['importer']} imports {violation['imported']} ({lines}): "
                f"only {violation['app']}.{{{public}}} are public",
                bold=False,
            )
        output.new_line()
