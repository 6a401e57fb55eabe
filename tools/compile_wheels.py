"""Runs in Pyodide (tools/pyodide_run.mjs): each wheel /job/<i>.whl's modules compiled to
unchecked-hash .pyc in /job/<i>.zip, at the names ``sys.pycache_prefix`` gives them once the
wheel is installed in site-packages (relative to the prefix). File names in the code objects
are the installed sources' paths, so tracebacks in the page show the code.

``job_args``: ``{"n_wheels": N, "sourceless": bool}``. Modules the page never imports stay out
(they still work: Python compiles them if asked).

With ``sourceless`` every module of the wheel is compiled, to the name beside its source
(``numpy/_core/_methods.py`` -> ``numpy/_core/_methods.pyc``): build.py's slim wheel ships these
in place of the sources (Python imports a sourceless .pyc found where the source would be), and
without docstrings (``without_docstrings``: the page never reads one, numpy's own code allows for
their absence as under ``python -OO``; asserts stay, unlike -OO): about a third of numpy's bytecode.
"""
import ast
import importlib.util
import sys
import sysconfig
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

SKIP = ("numpy/f2py/", "numpy/testing/", "numpy/_pyinstaller/", "numpy/distutils/", "numpy/typing/")
ONLY = {"pygments/lexers/": {"__init__.py", "_mapping.py", "python.py"},
        "pygments/styles/": {"__init__.py", "_mapping.py"},
        "pygments/formatters/": {"__init__.py", "_mapping.py"}}


def wanted(name: str) -> bool:
    if not name.endswith(".py") or "/tests/" in name or name.endswith("/conftest.py") or name.startswith(SKIP):
        return False
    for package, keep in ONLY.items():
        rest = name[len(package):]
        if name.startswith(package) and "/" not in rest and rest not in keep:
            return False
    return True


def without_docstrings(tree: ast.Module) -> ast.Module:
    """``tree`` with the docstring of the module and of every class and function taken out (a body
    that was only its docstring becomes ``pass``); line numbers stay as they were."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.copy_location(ast.Pass(), body[0])]
    return tree


def compile_wheel(src: str, dst: str, site: str, sourceless: bool = False) -> None:
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for name in sorted(z.namelist()):
            if not (name.endswith(".py") if sourceless else wanted(name)):
                continue
            source = z.read(name)
            path = f"{site}/{name}"
            try:
                code = compile(without_docstrings(ast.parse(source, path)) if sourceless else source,
                               path, "exec", dont_inherit=True)
            except SyntaxError:
                continue
            pyc = _code_to_hash_pyc(code, importlib.util.source_hash(source), False)
            info = zipfile.ZipInfo(name + "c" if sourceless else importlib.util.cache_from_source(path)[3:])
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, bytes(pyc))


if __name__ == "__main__":   # run by pyodide_run.mjs (a test imports the functions alone)
    site = sysconfig.get_path("purelib")
    sys.pycache_prefix = "/P"
    for i in range(job_args["n_wheels"]):  # noqa: F821 - set by pyodide_run.mjs
        compile_wheel(f"/job/{i}.whl", f"/job/{i}.zip", site, job_args.get("sourceless", False))  # noqa: F821
