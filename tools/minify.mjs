// Minifies JavaScript modules with esbuild (an npm devDependency), for build.py's vendor/three/.
//
//   node tools/minify.mjs JOB.json
//
// JOB.json: [[input path, output path], ...]. Each file is transformed on its own (no bundling):
// imports and exports stay as they are, only whitespace, names of locals and syntax shrink;
// license comments are kept.
import fs from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const esbuild = require("esbuild");
const [jobPath] = process.argv.slice(2);
for (const [input, output] of JSON.parse(fs.readFileSync(jobPath, "utf8"))) {
  const result = esbuild.transformSync(fs.readFileSync(input, "utf8"),
                                       { minify: true, format: "esm", target: "es2020", legalComments: "inline" });
  fs.writeFileSync(output, result.code);
}
