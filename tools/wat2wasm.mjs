// Compiles WebAssembly text to binary with wabt (an npm devDependency), for build.py's wasm/.
//
//   node tools/wat2wasm.mjs INPUT.wat OUTPUT.wasm
//
// SIMD instructions are allowed (the page's kernels use 128-bit SIMD); the output is checked
// by WebAssembly.validate before it is written.
import fs from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const wabt = await require("wabt")();
const [input, output] = process.argv.slice(2);
const module = wabt.parseWat(input, fs.readFileSync(input, "utf8"), { simd: true });
module.validate();
const { buffer } = module.toBinary({});
if (!WebAssembly.validate(buffer)) throw new Error(`${input}: this Node cannot validate the module wabt made`);
fs.writeFileSync(output, buffer);
