// bench/webhooks.mjs -- signed Stripe webhook deliveries for bench/webhooks.lua, one a line:
// `<Stripe-Signature>\t<body>`. Signed now (Stripe's tolerance is 300 s: run wrk at once).
//
//   node bench/webhooks.mjs <webhook secret> <deliveries> <duplicate share 0..1> > deliveries.txt
//
// A delivery is a new event, or (with the given probability) a repeat of one sent before,
// as Stripe's retries are. Events are payment_intent.* and charge.refunded for bookings
// the database does not know: each new one is verified, stored once and acts on nothing;
// a repeat is verified and found stored.
import crypto from 'node:crypto';

const [secret, countArg, dupArg] = process.argv.slice(2);
if (!secret || !countArg) {
  console.error('usage: node bench/webhooks.mjs <webhook secret> <deliveries> [duplicate share]');
  process.exit(2);
}
const count = Number(countArg);
const dupShare = Number(dupArg ?? 0.8);
const t = Math.floor(Date.now() / 1000);
const run = crypto.randomBytes(6).toString('hex');
const types = ['payment_intent.processing', 'payment_intent.succeeded', 'payment_intent.payment_failed', 'charge.refunded'];
const sent = [];
const out = [];
for (let i = 0; i < count; i++) {
  let line;
  if (sent.length > 0 && Math.random() < dupShare) {
    line = sent[Math.floor(Math.random() * sent.length)];
  } else {
    const n = sent.length;
    const type = types[n % types.length];
    const pi = `pi_bench_${run}_${n}`;
    const object = type === 'charge.refunded'
      ? { id: `ch_bench_${run}_${n}`, object: 'charge', amount: 4500, amount_refunded: 4500, currency: 'eur', payment_intent: pi, metadata: { booking_id: crypto.randomUUID() } }
      : { id: pi, object: 'payment_intent', amount: 4500, amount_received: type.endsWith('succeeded') ? 4500 : 0, currency: 'eur', status: type.split('.')[1], metadata: { booking_id: crypto.randomUUID() } };
    const body = JSON.stringify({
      id: `evt_bench_${run}_${n}`, object: 'event', api_version: '2024-06-20', created: t, livemode: false,
      pending_webhooks: 1, request: { id: null, idempotency_key: null }, type, data: { object },
    });
    const v1 = crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    line = `t=${t},v1=${v1}\t${body}`;
    sent.push(line);
  }
  out.push(line);
}
process.stdout.write(`${out.join('\n')}\n`);
console.error(`${count} deliveries of ${sent.length} events`);
