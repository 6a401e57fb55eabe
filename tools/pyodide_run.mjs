// Runs a Python script in this build's Pyodide, under Node (build.py's precompile steps).
//
//   node tools/pyodide_run.mjs PYODIDE_MJS_URL SCRIPT.py JOB.json
//
// JOB.json: {"inputs": {"/job/in.zip": "/host/in.zip"}, "outputs": {"/job/out.zip": "/host/out.zip"},
//            "args": {...}}. Inputs are copied into Pyodide's file system before the script runs,
// outputs copied out after it; the script sees `job_args` (a dict). Prints Pyodide's Python version.
//
// Python runs with PYTHONNODEBUGRANGES=1: code it compiles keeps line numbers but not the column
// spans of each instruction (a fifth of the bytecode's size; tracebacks lose only their ^^^ marks).
import fs from "node:fs";

const [pyodideUrl, scriptPath, jobPath] = process.argv.slice(2);
const { loadPyodide } = await import(pyodideUrl);
const job = JSON.parse(fs.readFileSync(jobPath, "utf8"));
const py = await loadPyodide({ env: { PYTHONNODEBUGRANGES: "1" }, stdout: () => {}, stderr: (s) => console.error(s) });
py.FS.mkdirTree("/job");
for (const [inside, host] of Object.entries(job.inputs || {})) py.FS.writeFile(inside, fs.readFileSync(host));
py.globals.set("job_args", py.toPy(job.args || {}));
py.runPython(fs.readFileSync(scriptPath, "utf8"), { filename: scriptPath });
for (const [inside, host] of Object.entries(job.outputs || {})) fs.writeFileSync(host, py.FS.readFile(inside));
console.log(py.runPython("import sys; sys.version.split()[0]"));
