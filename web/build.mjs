// web/build.mjs -- builds web/src into web/dist (make web), with Node's built-in modules only.
//
// Each asset gets its content's hash in its name (site.3f2a9c1e.js), so the shim can serve
// it as immutable; imports between modules and the pages' references are rewritten to the
// fingerprinted names (leaves first: a module's hash covers the names it imports). Every
// text file also gets a gzip twin (name.gz) that the shim sends to clients accepting gzip.
// The pages (index.html, admin.html) keep their names: they are always revalidated.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const here = path.dirname(new URL(import.meta.url).pathname);
const src = path.join(here, 'src');
const out = process.argv[2] ? path.resolve(process.argv[2]) : path.join(here, 'dist');
const tmp = `${out}.tmp${process.pid}`;

fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(path.join(tmp, 'assets'), { recursive: true });

const names = new Map(); // source name -> fingerprinted name
const importRe = /(from\s+|import\s*\(\s*|import\s+)(['"])\.\/([A-Za-z0-9_.-]+)\2/g;

function write(rel, data) {
  const file = path.join(tmp, rel);
  fs.writeFileSync(file, data);
  if (/\.(js|css|html|svg|json|txt)$/.test(rel)) {
    fs.writeFileSync(`${file}.gz`, zlib.gzipSync(data, { level: 9 }));
  }
}

function rewrite(text) {
  return text.replace(importRe, (m, kw, q, name) => {
    const n = names.get(name);
    if (!n) throw new Error(`import of ./${name} before it was built (or no such file)`);
    return `${kw}${q}./${n}${q}`;
  });
}

// assets in dependency order: a module after the modules it imports
const sources = fs.readdirSync(src).filter((f) => !f.endsWith('.html')).sort();
const deps = new Map(sources.map((f) => {
  const text = fs.readFileSync(path.join(src, f), 'utf8');
  return [f, [...text.matchAll(importRe)].map((m) => m[3])];
}));
const done = new Set();
function build(f, seen = new Set()) {
  if (done.has(f)) return;
  if (seen.has(f)) throw new Error(`import cycle at ${f}`);
  seen.add(f);
  for (const d of deps.get(f) ?? []) build(d, seen);
  let data = fs.readFileSync(path.join(src, f));
  if (/\.(js|css)$/.test(f)) data = Buffer.from(rewrite(data.toString('utf8')));
  const hash = crypto.createHash('sha256').update(data).digest('hex').slice(0, 10);
  const ext = path.extname(f);
  const name = `${path.basename(f, ext)}.${hash}${ext}`;
  names.set(f, name);
  write(path.join('assets', name), data);
  done.add(f);
}
for (const f of sources) build(f);

// pages: {{asset:name}} becomes /assets/<fingerprinted name>
for (const f of fs.readdirSync(src).filter((x) => x.endsWith('.html'))) {
  const html = fs.readFileSync(path.join(src, f), 'utf8').replace(/\{\{asset:([A-Za-z0-9_.-]+)\}\}/g, (m, name) => {
    const n = names.get(name);
    if (!n) throw new Error(`${f}: no asset ${name}`);
    return `/assets/${n}`;
  });
  write(f, html);
}

fs.rmSync(out, { recursive: true, force: true });
fs.renameSync(tmp, out);
console.log(`web: ${names.size} assets and the pages in ${path.relative(process.cwd(), out) || out}`);
