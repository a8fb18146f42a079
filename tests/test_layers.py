"""The house's rules, read from the code's imports (docs/architecture.md): each wing of parlor/
imports only the wings below it, chat/ and live/ never each other, parlor/ no web framework, and
handlers/ and views/ no storage client."""
import ast
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parent.parent
GROUND = "ground"  # parlor/refusals.py, parlor/safety.py: what every wing stands on
# What each part of parlor/ may import besides itself.
MAY_IMPORT = {
    "infra": set(),
    GROUND: {"infra"},
    "accounts": {"infra", GROUND},
    "chat": {"infra", GROUND, "accounts"},
    "game": {"infra", GROUND, "accounts"},
    "live": {"infra", GROUND, "accounts"},
    "community": {"infra", GROUND, "accounts", "chat", "game", "live"},
}
NO_HTTP = ("tornado", "jinja2", "markupsafe", "parlor.web")  # parlor/ sees no request and renders no HTML
NO_STORAGE = ("redis", "aiosqlite", "sqlite3")  # handlers/ and views/ go through parlor/


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def part_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "parlor" or parts[1:2] == ["web"]:
        return None
    return parts[1] if len(parts) > 2 and parts[1] in MAY_IMPORT else GROUND


def domain_modules():
    return sorted((TOP / "parlor").rglob("*.py"))


def name(path: Path) -> str:
    return str(path.relative_to(TOP))


@pytest.mark.parametrize("path", domain_modules(), ids=name)
def test_a_wing_imports_only_the_wings_below_it(path):
    own = part_of(".".join(path.relative_to(TOP).with_suffix("").parts))
    wrong = {module for module in imports_of(path)
             if part_of(module) not in (None, own) and part_of(module) not in MAY_IMPORT[own]}
    assert wrong == set()


@pytest.mark.parametrize("path", domain_modules(), ids=name)
def test_the_domain_sees_no_http_and_no_html(path):
    assert {module for module in imports_of(path) if module.startswith(NO_HTTP)} == set()


@pytest.mark.parametrize("path", sorted([*(TOP / "handlers").glob("*.py"), *(TOP / "views").glob("*.py")]), ids=name)
def test_the_web_layer_opens_no_storage(path):
    assert {module for module in imports_of(path) if module.split(".")[0] in NO_STORAGE} == set()


def test_every_wing_is_known():
    wings = {path.name for path in (TOP / "parlor").iterdir() if (path / "__init__.py").exists()}
    assert wings == set(MAY_IMPORT) - {GROUND}
