// The new-message e-mail end to end, with MESSAGE_EMAIL_DELAY at 0.05 minutes (3 s): a
// message left unread is mailed to its recipient through a fake Resend once, in their
// language, with values escaped in the HTML; a read message never is; nothing is mailed
// while the recipient has a live WebSocket, and the mail goes once the socket is gone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lit, psqlRows, request, sleep, startShim, waitFor } from './lib/client.mjs';
import { resendEnv, startFakeResend } from './lib/fake-resend.mjs';
import { bearer, createSpace, unique, waitReady } from './lib/payments.mjs';
import { wsConnect } from './lib/ws-client.mjs';

const FROM = 'workon <messages@workon.example>';
const DELAY_MS = 3000;

let resend;
let shim;
let base;
let host;
let member;
let conv;

async function registerUser(role, name) {
  const email = `msgmail-${unique()}@example.com`;
  const res = await request('POST', '/api/v1/auth/register', {
    base, body: { email, password: `long secret ${unique()}`, name, ...(role ? { role } : {}) },
  });
  assert.equal(res.status, 201, res.text);
  return { id: res.json.user.id, email, token: res.json.access_token };
}

const post = (user, body) => request('POST', `/api/v1/conversations/${conv}/messages`, {
  base, headers: bearer(user.token), body: { body },
});

// the new-message mails Resend got for an address (each outbox row's key once)
const mailsTo = (user) => resend.to(user.email).filter((r) => r.body?.subject && r.idempotencyKey?.startsWith('email:message_unread:'));
const rowsTo = (user) => psqlRows(
  `SELECT id, status, idempotency_key FROM workon.outbox
    WHERE kind = 'email' AND params ->> 'template' = 'message_unread' AND params ->> 'to' = ${lit(user.email)} ORDER BY id`);

before(async () => {
  resend = await startFakeResend();
  shim = await startShim({ ...resendEnv(resend, FROM), MESSAGE_EMAIL_DELAY: String(DELAY_MS / 60000), SHIM_THREADS: '1' });
  base = shim.url;
  await waitReady(base);
  host = await registerUser('host', 'Hôte <Lyon>');
  member = await registerUser(undefined, 'Mia <b>');
  const patch = await request('PATCH', '/api/v1/me', { base, headers: bearer(host.token), body: { locale: 'fr' } });
  assert.equal(patch.status, 200, patch.text);
  const space = await createSpace(base, host);
  const open = await request('POST', '/api/v1/conversations', { base, headers: bearer(member.token), body: { space_id: space.id } });
  assert.equal(open.status, 201, open.text);
  conv = open.json.id;
});

after(async () => {
  await shim?.stop();
  await resend?.close();
});

describe('new-message e-mails', () => {
  test('an unread message is mailed once, after the delay, in the recipient\'s language, escaped in HTML', async () => {
    const sentAt = Date.now();
    assert.equal((await post(member, 'Is it free <b>Monday</b> & Tuesday?')).status, 201);
    assert.equal((await post(member, 'Thanks!')).status, 201);
    await waitFor(() => mailsTo(host).length >= 1, 20000, 100);
    const [mail] = mailsTo(host);
    assert.ok(mail.at - sentAt >= DELAY_MS - 500, `mailed ${mail.at - sentAt} ms after the message, before the delay`);
    assert.deepEqual([].concat(mail.body.to), [host.email]);
    assert.equal(mail.body.from, FROM);
    assert.match(mail.body.subject, /^Nouveau message de Mia <b> à propos de Paid Room /);
    assert.match(mail.body.text, /non lus : 2/);
    assert.match(mail.body.text, /Thanks!/);
    assert.match(mail.body.html, /Mia &lt;b&gt; vous a écrit/);
    assert.ok(!mail.body.html.includes('<b>'), 'markup of values is escaped');
    assert.ok(mail.body.text.includes(`/conversations/${conv}`));
    const rows = rowsTo(host);
    assert.equal(rows.length, 1);
    assert.equal(mail.idempotencyKey, rows[0].idempotency_key);
    // a delay and more later, nothing new: no second mail
    await sleep(DELAY_MS * 2);
    assert.equal(mailsTo(host).length, 1);
    assert.equal(rowsTo(host).length, 1);
  });

  test('a message read within the delay is never mailed', async () => {
    assert.equal((await post(host, 'Oui, libre lundi')).status, 201);
    const read = await request('POST', `/api/v1/conversations/${conv}/read`, { base, headers: bearer(member.token) });
    assert.equal(read.status, 200, read.text);
    await sleep(DELAY_MS * 2 + 1000);
    assert.equal(rowsTo(member).length, 0);
    assert.equal(mailsTo(member).length, 0);
  });

  test('no mail while the recipient has a live socket; once it is gone, the mail goes', async () => {
    const ws = await wsConnect(base, '/api/v1/ws', { token: member.token });
    assert.equal(ws.status, 101);
    try {
      assert.equal((await post(host, 'Réservé pour vous <3')).status, 201);
      await sleep(DELAY_MS * 2 + 1000);
      assert.equal(rowsTo(member).length, 0, 'mailed while a socket was open');
    } finally {
      await ws.close();
    }
    await waitFor(() => mailsTo(member).length >= 1, 20000, 100);
    const [mail] = mailsTo(member);
    assert.match(mail.body.subject, /^New message from Hôte <Lyon> about Paid Room /);
    assert.match(mail.body.html, /Réservé pour vous &lt;3/);
    assert.match(mail.body.text, /Réservé pour vous <3/);
    assert.equal(rowsTo(member).length, 1);
  });
});
