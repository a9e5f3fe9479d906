// Users made with SQL for a test, logged in over HTTP.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { lit, psql, request } from './client.mjs';

export const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
export const bearer = (token) => ({ authorization: `Bearer ${token}` });

// A new user of the role, logged in: {id, token}. Its password hash is cheap (scrypt
// N=2^10), so that logging in stays fast on a busy machine.
export async function userWithRole(role, { base } = {}) {
  const email = `${role}-${unique()}@example.com`;
  const password = `long secret ${unique()}`;
  psql(`SET workon.scrypt_log_n = 10; SELECT workon.create_user(${lit(email)}, ${lit(password)}, ${lit(`A ${role}`)}, ${lit(role)});`);
  const res = await request('POST', '/api/v1/auth/login', { base, body: { email, password } });
  assert.equal(res.status, 200, res.text);
  return { id: res.json.user.id, token: res.json.access_token };
}
