"""Runs in Pyodide (tools/pyodide_run.mjs): Pyodide's /job/stdlib.zip with every module as
unchecked-hash bytecode, in /job/stdlib-pyc.zip (sources left out, as Pyodide ships its own
packages: tracebacks into the standard library give file and line, not the source text).

Docstrings are left out of the bytecode (what ``python -OO`` does to them; asserts stay, and
``sys.flags.optimize`` is 0 as ever): the standard library keeps working without them, as CPython
tests it under -OO, and they are a sixth of its bytecode. Line numbers are unchanged."""
import ast
import importlib.util
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def without_docstrings(tree: ast.Module) -> ast.Module:
    """``tree`` with the docstring of every module, class and function taken out (a body that
    was only a docstring becomes ``pass`` on the docstring's line)."""
    for node in ast.walk(tree):
        if not isinstance(node, DOCUMENTED) or not node.body:
            continue
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            node.body = node.body[1:] or [ast.copy_location(ast.Pass(), first)]
    return tree


with zipfile.ZipFile("/job/stdlib.zip") as z, zipfile.ZipFile("/job/stdlib-pyc.zip", "w") as out:
    for info in z.infolist():
        data = z.read(info)
        if not info.filename.endswith(".py"):
            out.writestr(info, data)
            continue
        path = "/lib/python314.zip/" + info.filename
        code = compile(without_docstrings(ast.parse(data, path)), path, "exec", dont_inherit=True)
        entry = zipfile.ZipInfo(info.filename + "c", info.date_time)
        entry.compress_type = zipfile.ZIP_DEFLATED
        out.writestr(entry, bytes(_code_to_hash_pyc(code, importlib.util.source_hash(data), False)))
