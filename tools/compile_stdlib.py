"""Runs in Pyodide (tools/pyodide_run.mjs): Pyodide's /job/stdlib.zip with every module as
unchecked-hash bytecode, in /job/stdlib-pyc.zip (sources left out, as Pyodide ships its own
packages: tracebacks into the standard library give file and line, not the source text)."""
import importlib.util
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

with zipfile.ZipFile("/job/stdlib.zip") as z, zipfile.ZipFile("/job/stdlib-pyc.zip", "w") as out:
    for info in z.infolist():
        data = z.read(info)
        if not info.filename.endswith(".py"):
            out.writestr(info, data)
            continue
        code = compile(data, "/lib/python314.zip/" + info.filename, "exec", dont_inherit=True)
        entry = zipfile.ZipInfo(info.filename + "c", info.date_time)
        entry.compress_type = zipfile.ZIP_DEFLATED
        out.writestr(entry, bytes(_code_to_hash_pyc(code, importlib.util.source_hash(data), False)))
