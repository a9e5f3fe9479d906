// bench/search.mjs -- latency of GET /api/v1/spaces?q= over bench/search.sql's 10,000 spaces.
//
//   node bench/search.mjs <shim url> [requests per query]
//
// One keep-alive connection, requests one after the other (latency, not throughput), for
// each kind of query: a rare word (1 % of the spaces match), a common word (10 %), two
// words, a rare word sorted by price. Every answer must be 200 with a full first page.
// Prints one tab-separated line per query: name, requests, p50 ms, p95 ms, p99 ms, rows.
import http from 'node:http';

const [base, nArg] = process.argv.slice(2);
if (!base) {
  console.error('usage: node bench/search.mjs <shim url> [requests per query]');
  process.exit(2);
}
const n = Number(nArg || 2000);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(path) {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    http.get(new URL(path, base), { agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - t) / 1e6,
        body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const queries = [
  ['rare word (1 %)', (i) => `q=rare${i % 100}`],
  ['common word (10 %)', () => 'q=skylight'],
  ['two words', (i) => `q=${encodeURIComponent(`rare${i % 100} quiet`)}`],
  ['rare word, sort=price', (i) => `q=rare${i % 100}&sort=price`],
];
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

for (const [name, make] of queries) {
  for (let i = 0; i < 50; i++) await get(`/api/v1/spaces?${make(i)}`); // warm-up
  const times = [];
  let rows = 0;
  for (let i = 0; i < n; i++) {
    const res = await get(`/api/v1/spaces?${make(i)}`);
    if (res.status !== 200) throw new Error(`${name}: ${res.status} ${res.body.slice(0, 200)}`);
    const got = JSON.parse(res.body).data.length;
    if (got < 1) throw new Error(`${name}: no match for ${make(i)}`);
    rows += got;
    times.push(res.ms);
  }
  times.sort((a, b) => a - b);
  console.log([name, n, pct(times, 50).toFixed(2), pct(times, 95).toFixed(2), pct(times, 99).toFixed(2),
    (rows / n).toFixed(0)].join('\t'));
}
agent.destroy();
