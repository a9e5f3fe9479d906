// bench/email.mjs -- queued mails delivered to a local fake Resend that answers each after a
// fixed latency: how fast, against the bound the provider's latency sets, and what the shim
// spends on each.
//
//   node bench/email.mjs <shim binary> <DATABASE_URL> <mails queued> <provider latency ms> [concurrency]
//
// The mails must already be pending in workon.outbox (scripts/bench.sh queues them in one
// transaction, rendered by the database). This starts the fake Resend of the tests, answering
// every mail <latency> ms after it arrived, and a shim with EMAIL_TRANSPORT=resend pointed at
// it (one event loop; the outbox worker runs on the first) with EMAIL_CONCURRENCY=<concurrency>
// (64), waits until the fake has every mail, stops the shim and prints one JSON line:
// {"mails", "latency_ms", "concurrency", "seconds", "per_second", "bound_per_second", "ratio",
//  "max_in_flight", "shim_cpu_us_per_mail", "fake_cpu_us_per_mail", "sent_twice"}, measured
// from the first mail received to the last (so the shim's start-up is not counted), the
// shim's CPU from /proc/<pid>/stat, the fake's (this process) from process.cpuUsage().
// bound_per_second = concurrency / latency: the most a sender with that many mails in flight
// can reach against that provider (none at 0 ms); ratio = per_second / bound_per_second.
// sent_twice = requests the fake received beyond one per Idempotency-Key.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { startFakeResend } from '../test/http/lib/fake-resend.mjs';

const [bin, databaseUrl, countArg, latencyArg, concurrencyArg = '64'] = process.argv.slice(2);
if (!bin || !databaseUrl || !countArg || latencyArg === undefined) {
  console.error('usage: node bench/email.mjs <shim binary> <DATABASE_URL> <mails queued> <provider latency ms> [concurrency]');
  process.exit(2);
}
const count = Number(countArg);
const latencyMs = Number(latencyArg);
const concurrency = Number(concurrencyArg);
const TICK_US = 1e6 / 100; // USER_HZ

// utime + stime of a process, in microseconds
function cpuUs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

const fake = await startFakeResend();
fake.answerDelayMs = latencyMs;
// a free port of the loopback interface
const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const shim = spawn(bin, [], {
  env: {
    PATH: process.env.PATH, HOME: process.env.HOME, LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH ?? '',
    DATABASE_URL: databaseUrl, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', SHIM_THREADS: '1',
    EMAIL_TRANSPORT: 'resend', RESEND_API_BASE: fake.url, RESEND_API_KEY: fake.apiKey, EMAIL_FROM: 'bench@workon.example',
    EMAIL_CONCURRENCY: String(concurrency),
    // passed as they are, like scripts/bench.sh does for its shims
    ...(process.env.DB_POOL_SIZE ? { DB_POOL_SIZE: process.env.DB_POOL_SIZE } : {}),
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});

let first = null;
let firstCpu = 0;
let firstFakeCpu;
const deadline = Date.now() + 600e3;
let result;
try {
  for (;;) {
    const n = fake.sent().length;
    if (first === null && n > 0) {
      first = { at: fake.sent()[0].at, n };
      firstCpu = cpuUs(shim.pid);
      firstFakeCpu = process.cpuUsage();
    }
    // every mail arrived and answered
    if (n >= count && fake.inFlight === 0) break;
    if (Date.now() > deadline || shim.exitCode !== null) throw new Error(`${n} of ${count} mails arrived`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const sent = fake.sent();
  const last = sent[sent.length - 1].at;
  const cpu = cpuUs(shim.pid) - firstCpu;
  const fakeCpu = process.cpuUsage(firstFakeCpu);
  const mails = sent.length - first.n;
  const seconds = (last - first.at) / 1000;
  const perSecond = Math.round(mails / Math.max(seconds, 0.001));
  const bound = latencyMs > 0 ? Math.round((concurrency * 1000) / latencyMs) : null;
  result = {
    mails: sent.length,
    latency_ms: latencyMs,
    concurrency,
    seconds: Number(seconds.toFixed(2)),
    per_second: perSecond,
    bound_per_second: bound,
    ratio: bound ? Number((perSecond / bound).toFixed(2)) : null,
    max_in_flight: fake.maxInFlight,
    shim_cpu_us_per_mail: Math.round(cpu / Math.max(mails, 1)),
    fake_cpu_us_per_mail: Math.round((fakeCpu.user + fakeCpu.system) / Math.max(mails, 1)),
    sent_twice: fake.requests.length - new Set(fake.requests.map((r) => r.idempotencyKey)).size,
  };
} finally {
  shim.kill('SIGTERM');
  await new Promise((r) => (shim.exitCode !== null ? r() : shim.once('exit', r)));
  await fake.close();
}
console.log(JSON.stringify(result));
