// bench/email.mjs -- queued mails delivered to a local fake Resend: how fast, and what the
// shim spends on each.
//
//   node bench/email.mjs <shim binary> <DATABASE_URL> <mails queued>
//
// The mails must already be pending in workon.outbox (scripts/bench.sh queues them in one
// transaction, rendered by the database). This starts the fake Resend of the tests and a
// shim with EMAIL_TRANSPORT=resend pointed at it (one event loop; the outbox worker runs on
// the first), waits until the fake has every mail, stops the shim and prints one JSON line:
// {"mails", "seconds", "per_second", "shim_cpu_us_per_mail"}, measured from the first mail
// received to the last (so the shim's start-up is not counted), CPU from /proc/<pid>/stat.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { startFakeResend } from '../test/http/lib/fake-resend.mjs';

const [bin, databaseUrl, countArg] = process.argv.slice(2);
if (!bin || !databaseUrl || !countArg) {
  console.error('usage: node bench/email.mjs <shim binary> <DATABASE_URL> <mails queued>');
  process.exit(2);
}
const count = Number(countArg);
const TICK_US = 1e6 / 100; // USER_HZ

// utime + stime of a process, in microseconds
function cpuUs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

const fake = await startFakeResend();
const port = 20000 + Math.floor(Math.random() * 20000);
const shim = spawn(bin, [], {
  env: {
    PATH: process.env.PATH, HOME: process.env.HOME, LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH ?? '',
    DATABASE_URL: databaseUrl, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', SHIM_THREADS: '1',
    EMAIL_TRANSPORT: 'resend', RESEND_API_BASE: fake.url, RESEND_API_KEY: fake.apiKey, EMAIL_FROM: 'bench@workon.example',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});

let first = null;
let firstCpu = 0;
const deadline = Date.now() + 600e3;
let result;
try {
  for (;;) {
    const n = fake.sent().length;
    if (first === null && n > 0) {
      first = { at: fake.sent()[0].at, n };
      firstCpu = cpuUs(shim.pid);
    }
    if (n >= count) break;
    if (Date.now() > deadline || shim.exitCode !== null) throw new Error(`${n} of ${count} mails arrived`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const sent = fake.sent();
  const last = sent[sent.length - 1].at;
  const cpu = cpuUs(shim.pid) - firstCpu;
  const mails = sent.length - first.n;
  const seconds = (last - first.at) / 1000;
  result = {
    mails: sent.length,
    seconds: Number(seconds.toFixed(2)),
    per_second: Math.round(mails / Math.max(seconds, 0.001)),
    shim_cpu_us_per_mail: Math.round(cpu / Math.max(mails, 1)),
    sent_twice: sent.length - new Set(sent.map((r) => r.idempotencyKey)).size,
  };
} finally {
  shim.kill('SIGTERM');
  await new Promise((r) => (shim.exitCode !== null ? r() : shim.once('exit', r)));
  await fake.close();
}
console.log(JSON.stringify(result));
