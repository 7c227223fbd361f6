#!/usr/bin/env node
// npm run docs:api:check: regenerates the API reference (typedoc.json) into a temporary folder and
// compares it, file by file, with the checked-in docs/api/. Exits 1 naming every stale, missing or
// extra file when they differ, so the reference cannot drift from the types. Reads only the
// TypeScript sources: the native addon need not be built.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const docsDir = path.join(root, 'docs', 'api');
const fixCommand = 'npm run docs:api';

function listFiles(dir) {
  const files = [];
  if (!fs.existsSync(dir)) return files;
  const walk = (sub) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(rel);
      else files.push(rel);
    }
  };
  walk('');
  return files.sort();
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kalman-norm-api-docs-'));
let status = 0;
try {
  const out = path.join(tmp, 'api');
  const typedoc = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'typedoc.cmd' : 'typedoc');
  // Warnings (undocumented exports) are listed by `npm run docs:api`; here only errors are shown.
  const run = spawnSync(typedoc, ['--options', path.join(root, 'typedoc.json'), '--out', out, '--logLevel', 'Error'], {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (run.error || run.status !== 0) {
    console.error(`docs:api:check: typedoc failed (${run.error ? run.error.message : `exit ${run.status}`})`);
    status = 2;
  } else {
    const generated = listFiles(out);
    const checkedIn = listFiles(docsDir);
    const checkedInSet = new Set(checkedIn);
    const generatedSet = new Set(generated);
    const stale = [];
    const missing = [];
    for (const rel of generated) {
      if (!checkedInSet.has(rel)) missing.push(rel);
      else if (!fs.readFileSync(path.join(out, rel)).equals(fs.readFileSync(path.join(docsDir, rel)))) stale.push(rel);
    }
    const extra = checkedIn.filter((rel) => !generatedSet.has(rel));
    if (generated.length === 0) {
      console.error('docs:api:check: typedoc wrote no files');
      status = 2;
    } else if (stale.length + missing.length + extra.length > 0) {
      console.error('docs:api:check: docs/api/ is out of date with the types in lib/.');
      for (const rel of stale) console.error(`  stale:   docs/api/${rel}`);
      for (const rel of missing) console.error(`  missing: docs/api/${rel}`);
      for (const rel of extra) console.error(`  extra:   docs/api/${rel} (no longer generated)`);
      console.error(`Regenerate with \`${fixCommand}\` and commit docs/api/.`);
      status = 1;
    } else {
      console.log(`docs:api:check: docs/api/ is current (${generated.length} files).`);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(status);
