#!/usr/bin/env node
// Builds the evidence browser (src/ui) into dist/ui: one JavaScript bundle (esbuild, minified,
// Preact inside), the stylesheet and the page. Offline: everything comes from node_modules.
// Typechecking is `tsc -p src/ui/tsconfig.json`, run before this by `npm run build`.
//
//   node scripts/build-ui.mjs            # writes dist/ui/{index.html,app.js,app.css}
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';

const src = fileURLToPath(new URL('../src/ui/', import.meta.url));
const out = fileURLToPath(new URL('../dist/ui/', import.meta.url));
await mkdir(out, { recursive: true });
await build({
  entryPoints: [`${src}main.tsx`],
  outfile: `${out}app.js`,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  tsconfig: `${src}tsconfig.json`,
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(`${src}index.html`, `${out}index.html`);
await copyFile(`${src}app.css`, `${out}app.css`);
const js = await readFile(`${out}app.js`);
const css = await readFile(`${out}app.css`);
process.stdout.write(`dist/ui: app.js ${js.length} bytes (${gzipSync(js).length} gzip), app.css ${css.length} bytes (${gzipSync(css).length} gzip)\n`);
