"""The layers are a contract (DESIGN.md "Layout and layers"): import-linter checks it in `make lint`,
these tests check that it holds, that it would catch an upward import in any app, and what it
cannot see: a lower app reaching a higher one by name."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["mediamanager", "plans", "coupons", "payments", "integrations"]  # top to bottom
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_layers_contracts_are_kept():
    result = _lint_imports(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("integrations/kernel/_upward.py", "integrations.models"),
        ("integrations/_upward.py", "payments.models"),
        ("payments/_upward.py", "coupons.models"),
        ("payments/tests/_upward.py", "plans.models"),
        ("coupons/_upward.py", "plans.models"),
        ("plans/_upward.py", "mediamanager.urls"),
    ],
)
def test_an_upward_import_in_any_app_breaks_the_contract(tmp_path, module, upward):
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / module).write_text(f"import {upward}  # noqa: F401\n")

    result = _lint_imports(tmp_path)

    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert f"{module.removesuffix('.py').replace('/', '.')} -> {upward}" in result.stdout


def _sources(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, path.read_text()


@pytest.mark.parametrize("app", APPS[1:])
def test_no_app_reaches_a_higher_app_by_name(app):
    """`apps.get_model("plans", ...)` or a lookup string through a higher app's relations is an
    upward import in disguise."""
    higher = APPS[: APPS.index(app)]
    by_name = re.compile(r"""get_model\(\s*["'](""" + "|".join(higher) + r""")["']""")
    relations = re.compile(r"""["'](subscriptions|accesses|subscription_link|invoice_links)(__\w*)?["']""")
    found = []
    for path, text in _sources(app):
        found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in by_name.finditer(text)]
        if app in ("payments", "integrations"):
            found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in relations.finditer(text)]
    assert found == []
