"""The Lambda package holds the product code only: the local runtime (the top-level ``local``
package: moto, waitress, the event pump) never ships, and nothing that ships imports it
(it would fail at import in Lambda, where it is absent)."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import pytest
from chalice.deploy.packager import LambdaDeploymentPackager
from chalice.utils import OSUtils

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"local", "moto", "waitress"}  # the local runtime and what only it needs


def packaged_project_files() -> list[str]:
    """The project's files in `make package`'s zip, chosen by chalice's own packager (the
    dependencies from requirements.txt are added beside them, under their own names)."""
    packager = LambdaDeploymentPackager(OSUtils(), dependency_builder=None, ui=None)
    return [zip_path for _, zip_path in packager._iter_app_filenames(str(ROOT))]


def imported_top_levels(source: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_package_holds_app_and_chalicelib_and_no_local_runtime():
    files = packaged_project_files()
    assert "app.py" in files and "chalicelib/core/config.py" in files  # the listing is the real one
    assert {f.split("/")[0] for f in files} <= {"app.py", "chalicelib", "chalice"}
    assert [f for f in files if "local" in Path(f).parts[:-1]] == []
    assert not (ROOT / "vendor").exists()  # chalice would ship the whole directory


def test_nothing_packaged_imports_the_local_runtime():
    offenders = {}
    for name in packaged_project_files():
        if name.endswith(".py") and not name.startswith("chalice/"):
            found = imported_top_levels(ROOT / name) & DEV_ONLY
            if found:
                offenders[name] = sorted(found)
    assert offenders == {}


def test_a_built_package_has_no_local_runtime():
    """When `make package` has run, its zip says the same as the listing above."""
    built = ROOT / "build" / "package" / "deployment.zip"
    if not built.exists():
        pytest.skip("no build/package/deployment.zip (run make package); the listing tests cover the selection")
    with zipfile.ZipFile(built) as z:
        names = z.namelist()
    assert "app.py" in names
    assert [n for n in names if n.split("/")[0] in DEV_ONLY or n.startswith("chalicelib/local/")] == []
