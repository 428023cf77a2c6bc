"""The shape of ARCHITECTURE.md, checked on every ``make test``: who may import whom.

- ``topics`` (the Kafka contract) imports nothing of ours but itself;
- ``picasso`` (the shared kernel) imports ``topics`` and itself, never a service or the edge;
- ``web`` (the edge) imports ``topics``, ``picasso`` and itself: no service's code;
- each service ``agents.<domain>`` imports ``topics``, ``picasso`` and itself: no other
  service (they talk through Kafka topics only).

Every ``import`` counts, also those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ("topics", "picasso", "agents", "web", "deploy", "bench", "tests")


def allowed_for(module: str) -> tuple[str, ...]:
    """The packages of ours a module may import."""
    top = module.split(".")[0]
    if top == "topics":
        return ("topics",)
    if top == "picasso":
        return ("picasso", "topics")
    if top == "web":
        return ("web", "picasso", "topics")
    if top == "agents":
        parts = module.split(".")
        own = ".".join(parts[:2]) if len(parts) > 1 else "agents"
        return (own, "picasso", "topics")
    raise ValueError(module)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of ours in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] in OURS]


def violations(root: Path, packages: tuple[str, ...]) -> list[str]:
    broken = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            allowed = allowed_for(module)
            for line, name in imports_of(path):
                if not any(name == ok or name.startswith(ok + ".") for ok in allowed):
                    broken.append(f"{path.relative_to(root)}:{line}: {module} imports {name} "
                                  f"(it may import only {', '.join(allowed)})")
    return broken


def test_every_package_imports_only_what_the_architecture_allows() -> None:
    broken = violations(ROOT, ("topics", "picasso", "web", "agents"))
    assert not broken, "\n".join(broken)


def test_every_service_is_a_package_of_its_own() -> None:
    from picasso.domains import DOMAINS

    packages = {p.name for p in (ROOT / "agents").iterdir() if (p / "__init__.py").exists()}
    assert packages == set(DOMAINS)
    assert {p.name for p in (ROOT / "agents").glob("*.py")} == {"__init__.py"}


def test_the_check_finds_a_service_importing_another(tmp_path: Path) -> None:
    """The contract can fail: one service reaching into another's code, or the edge into a
    service's, is reported with its file and line."""
    (tmp_path / "agents" / "mail").mkdir(parents=True)
    (tmp_path / "web").mkdir()
    (tmp_path / "agents" / "mail" / "mailer.py").write_text(
        "import json\nfrom agents.mail.compose import compose\n"
        "def f():\n    from agents.purchases.ledger import Ledger\n")
    (tmp_path / "web" / "routes.py").write_text("from agents.reactions import logic\n")
    assert violations(tmp_path, ("agents", "web")) == [
        "agents/mail/mailer.py:4: agents.mail.mailer imports agents.purchases.ledger "
        "(it may import only agents.mail, picasso, topics)",
        "web/routes.py:1: web.routes imports agents.reactions "
        "(it may import only web, picasso, topics)",
    ]
