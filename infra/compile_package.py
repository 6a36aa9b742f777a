"""Add Python bytecode to the Lambda deployment package `chalice package` writes.

Usage: python infra/compile_package.py build/package/deployment.zip
(`make package` runs it; it must run on the Python version of the Lambda runtime, which is
the one chalice packaged for.)

Chalice zips source files only, and Lambda's code directory is read-only, so without this
every cold start of every function compiles app.py, chalicelib and the bundled libraries
from source again (bench/cold_start.py: about 0.1 s of CPU for chalicelib alone). Each
module gets an unchecked-hash .pyc beside it in __pycache__: Python loads it without
comparing timestamps, which zip extraction does not keep exactly. The package is immutable
once built, so the bytecode cannot go stale.
"""

from __future__ import annotations

import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath


def bytecode_path(name: str) -> str:
    source = PurePosixPath(name)
    return str(source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc")


def compile_package(zip_path: Path) -> int:
    """Add a .pyc for every .py in the zip that has none; returns how many were added."""
    with zipfile.ZipFile(zip_path) as package:
        names = set(package.namelist())
        sources = {name: package.read(name) for name in names
                   if name.endswith(".py") and bytecode_path(name) not in names}
    added = 0
    with tempfile.TemporaryDirectory() as scratch, \
            zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED) as package:
        source_file, bytecode_file = Path(scratch, "module.py"), Path(scratch, "module.pyc")
        for name, source in sorted(sources.items()):
            source_file.write_bytes(source)
            try:
                py_compile.compile(str(source_file), cfile=str(bytecode_file), dfile=name, doraise=True,
                                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            except py_compile.PyCompileError:  # e.g. a library's Python 2 example script: never imported
                continue
            package.writestr(bytecode_path(name), bytecode_file.read_bytes())
            added += 1
    return added


if __name__ == "__main__":
    target = Path(sys.argv[1])
    print(f"{target}: bytecode added for {compile_package(target)} modules")
