// A round-robin TCP load balancer on a free loopback port, as a platform's would be in
// front of several shims: each new connection goes to the next backend, bytes both ways
// untouched (WebSocket upgrades too). `counts` says how many connections each backend got.
import net from 'node:net';

export async function startBalancer(backends) {
  const ports = backends.map((b) => Number(new URL(b).port));
  const counts = ports.map(() => 0);
  const sockets = new Set();
  let next = 0;
  const server = net.createServer((client) => {
    const i = next++ % ports.length;
    counts[i]++;
    const upstream = net.connect({ host: '127.0.0.1', port: ports[i] });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
