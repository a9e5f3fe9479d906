// bench/idle-connections.mjs -- memory cost of idle keep-alive connections.
//
//   node bench/idle-connections.mjs PORT PID [COUNT]
//
// Reads the shim's resident size (VmRSS of /proc/PID/status), opens COUNT (1000)
// HTTP/1.1 connections to 127.0.0.1:PORT, sends one GET /healthz on each and leaves it
// open, reads VmRSS again once every connection has its answer, then closes them.
// Prints one JSON line: {"connections", "open", "rss_before_kb", "rss_after_kb"}.
import fs from 'node:fs';
import net from 'node:net';

const [port, pid, countArg] = process.argv.slice(2);
if (!port || !pid) {
  console.error('usage: node bench/idle-connections.mjs PORT PID [COUNT]');
  process.exit(2);
}
const count = Number(countArg ?? 1000);

function rssKb() {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function open() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: Number(port) });
    s.setTimeout(10000, () => reject(new Error('timeout')));
    s.once('error', reject);
    s.once('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    let got = '';
    const onData = (d) => {
      got += d;
      if (got.includes('\r\n\r\n')) {
        s.off('data', onData);
        s.setTimeout(0);
        s.on('data', () => {});
        s.on('error', () => {});
        resolve(s);
      }
    };
    s.on('data', onData);
  });
}

const before = rssKb();
const sockets = [];
// a few at a time, like clients arriving, so the listen backlog never overflows
for (let i = 0; i < count; i += 50) {
  const batch = [];
  for (let j = i; j < Math.min(count, i + 50); j++) batch.push(open());
  sockets.push(...(await Promise.all(batch)));
}
await new Promise((r) => setTimeout(r, 500));
const after = rssKb();
const stillOpen = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
for (const s of sockets) s.destroy();
console.log(JSON.stringify({ connections: count, open: stillOpen, rss_before_kb: before, rss_after_kb: after }));
