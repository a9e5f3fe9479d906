// bench/stats.mjs URL TOKEN -- latency of the admin's reads through the shim, one request
// at a time (what an admin's browser waits for): GET /api/v1/admin/stats over the last 90
// days (BENCH_STATS_REQUESTS, 40) and GET /api/v1/admin/audit?entity_id= of generated
// bookings (BENCH_AUDIT_REQUESTS, 500), each after a few warm-up requests. Prints one JSON
// line per route: count, p50, p95, p99 and max in ms, the body size, the rows returned.
const [url, token] = process.argv.slice(2);
const headers = { authorization: `Bearer ${token}` };
const statsN = Number(process.env.BENCH_STATS_REQUESTS || 40);
const auditN = Number(process.env.BENCH_AUDIT_REQUESTS || 500);

const day = (ms) => new Date(ms).toISOString().slice(0, 10);
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];

async function timed(path) {
  const t0 = process.hrtime.bigint();
  const res = await fetch(url + path, { headers });
  const body = await res.text();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body.slice(0, 300)}`);
  return { ms, body };
}

async function run(name, n, pathOf, rowsOf) {
  for (let i = 0; i < 3; i++) await timed(pathOf(i));
  const times = [];
  let bytes = 0;
  let rows = 0;
  for (let i = 0; i < n; i++) {
    const { ms, body } = await timed(pathOf(i + 3));
    times.push(ms);
    bytes = body.length;
    rows = rowsOf(JSON.parse(body));
  }
  times.sort((a, b) => a - b);
  const r = (x) => Math.round(x * 10) / 10;
  console.log(JSON.stringify({
    route: name, requests: n, p50_ms: r(pct(times, 50)), p95_ms: r(pct(times, 95)),
    p99_ms: r(pct(times, 99)), max_ms: r(times[times.length - 1]), body_bytes: bytes, rows,
  }));
}

const now = Date.now();
const from = day(now - 90 * 86400e3);
const to = day(now - 86400e3);
await run('GET /api/v1/admin/stats (90 days)', statsN, () => `/api/v1/admin/stats?from=${from}&to=${to}`,
  (j) => j.occupancy.reduce((n, s) => n + s.daily_open_hours.length, 0));
// booking ids bench/stats-data.sql wrote audit rows for: ...-a000-<hex of 1000 + g>, g % 10 < 8
const bookingId = (i) => {
  let g = (i * 7919) % 100000;
  g = g - (g % 10) + (g % 8);
  const k = 1000 + g;
  return `00000000-0000-4000-a000-${k.toString(16).padStart(12, '0')}`;
};
await run('GET /api/v1/admin/audit?entity_id=', auditN, (i) => `/api/v1/admin/audit?entity_id=${bookingId(i)}`,
  (j) => j.data.length);
