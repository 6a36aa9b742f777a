"""The Lambda package carries bytecode (infra/compile_package.py), so a cold start does not
compile the project's source: Lambda's code directory is read-only and none is written."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "compile_package", Path(__file__).resolve().parents[2] / "infra" / "compile_package.py")
compile_package = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compile_package)


def test_extracted_package_imports_from_the_added_bytecode(tmp_path):
    package = tmp_path / "deployment.zip"
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("app.py", "from chalicelib import answer\n")
        z.writestr("chalicelib/__init__.py", "")
        z.writestr("chalicelib/answer.py", "VALUE = 42\n")
        z.writestr("vendor/py2_example.py", "print 'not Python 3'\n")
    assert compile_package.compile_package(package) == 3  # the Python 2 file is skipped, not an error
    assert compile_package.compile_package(package) == 0  # run twice: nothing added twice
    with zipfile.ZipFile(package) as z:
        assert compile_package.bytecode_path("chalicelib/answer.py") in z.namelist()
        z.extractall(tmp_path / "task")
    # Python must take the bytecode without looking at the source (zip extraction does not
    # keep mtimes exactly): change the source, the import still sees the packaged module.
    (tmp_path / "task/chalicelib/answer.py").write_text("VALUE = 0\n")
    out = subprocess.run([sys.executable, "-c", "import app; print(app.answer.VALUE)"], cwd=tmp_path / "task",
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "42"
