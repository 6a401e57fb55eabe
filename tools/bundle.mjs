// Bundles the page's JavaScript with esbuild (an npm devDependency), for build.py's js/.
//
//   node tools/bundle.mjs JOB.json
//
// JOB.json: {"entries": [paths of site/js modules], "outbase": "site/js", "outdir": a folder}.
// Each entry (a module index.html or PyScript's js_modules loads) is written at its own path under
// outdir, minified, with three.js (from node_modules) and our modules inside; what several entries
// share goes into chunk-<hash>.js files they import, so a module runs once however many entries
// import it (PyScript's js_modules and the page's <script> tags load the same files). License
// comments are kept, at the end of each file.
import { createRequire } from "node:module";
import fs from "node:fs";

const require = createRequire(import.meta.url);
const esbuild = require("esbuild");
const [jobPath] = process.argv.slice(2);
const job = JSON.parse(fs.readFileSync(jobPath, "utf8"));
await esbuild.build({
  entryPoints: job.entries,
  outbase: job.outbase,
  outdir: job.outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  legalComments: "eof",
  chunkNames: "chunk-[hash]",
  logLevel: "error",
});
