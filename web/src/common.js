// What the site and the admin console share: the API client (the access token in memory,
// the refresh token in an HttpOnly cookie), the languages, DOM helpers, the router, the
// realtime socket and formatting.
import { dict } from './i18n.js';

// ---------------------------------------------------------------------------
// languages

const LANGS = ['en', 'fr'];
let lang = localStorage.getItem('lang') || ((navigator.language || 'en').startsWith('fr') ? 'fr' : 'en');
if (!LANGS.includes(lang)) lang = 'en';
document.documentElement.lang = lang;

export const getLang = () => lang;
export function setLang(l) {
  lang = l;
  localStorage.setItem('lang', l); // a preference, not a secret
  document.documentElement.lang = l;
}

export function t(key, vars = {}) {
  const s = dict[lang][key] ?? dict.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] ?? m));
}

// ---------------------------------------------------------------------------
// DOM

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// a labelled form field; the input gets an id for its label
let fieldSeq = 0;
export function field(label, input, hint) {
  const id = input.id || `f${++fieldSeq}`;
  input.id = id;
  const hintEl = hint ? h('small', { id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

export function select(name, options, value) {
  return h('select', { name }, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

// a status line read out by screen readers
export function notice(text, kind = 'info') {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

export function loading() {
  return h('p', { class: 'loading', role: 'status' }, t('loading'));
}

// ---------------------------------------------------------------------------
// formatting

export function money(p) {
  if (!p) return '';
  return new Intl.NumberFormat(lang, { style: 'currency', currency: p.currency.toUpperCase() }).format(p.amount_cents / 100);
}

// a share in per cent, two significant digits: a small one is not rounded away to 0
export function percent(v) {
  return `${new Intl.NumberFormat(lang, { maximumSignificantDigits: 2 }).format(v)} %`;
}

export function dateTime(iso, timeZone) {
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(new Date(iso));
}

export function day(iso, timeZone) {
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeZone }).format(new Date(iso));
}

// the UTC instant of a wall-clock date and time in an IANA zone (DST included)
export function zonedToDate(date, time, timeZone) {
  const [y, mo, d] = date.split('-').map(Number);
  const [hh, mm] = time.split(':').map(Number);
  const guess = Date.UTC(y, mo - 1, d, hh, mm);
  const offset = (ms) => {
    const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
    return Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute) - ms;
  };
  let ms = guess - offset(guess);
  ms = guess - offset(ms);
  return new Date(ms);
}

export function today() {
  return new Date().toISOString().slice(0, 10);
}

export function addDays(date, n) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------
// the API

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const session = { token: null, user: null, expiresAt: 0, timer: null, listeners: new Set() };

export const currentUser = () => session.user;
export const accessToken = () => session.token;
export function onSession(fn) {
  session.listeners.add(fn);
}

function setSession(answer) {
  session.token = answer?.access_token ?? null;
  if (answer?.user) session.user = answer.user;
  if (!answer) session.user = null;
  clearTimeout(session.timer);
  if (session.token) {
    const ttl = (answer.expires_in ?? 900) * 1000;
    session.expiresAt = Date.now() + ttl;
    session.timer = setTimeout(() => refresh().catch(() => {}), Math.max(5000, ttl * 0.8));
  }
  for (const fn of session.listeners) fn(session.user);
}

async function rawFetch(method, path, body, token) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', t('err.network'));
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch { /* not JSON */ }
  if (!res.ok) {
    const e = json?.error ?? {};
    throw new ApiError(res.status, e.code ?? 'http_' + res.status, e.message ?? res.statusText, e.details ?? {});
  }
  return json;
}

let refreshing = null;
// a new access token for the session cookie; null when there is no session
export function refresh() {
  refreshing ??= rawFetch('POST', '/api/v1/auth/session/refresh')
    .then((a) => { setSession(a); return a; })
    .catch((e) => { if (e.status === 401) setSession(null); else throw e; return null; })
    .finally(() => { refreshing = null; });
  return refreshing;
}

// the page's first question: is someone logged in (the cookie)?
export async function restoreSession() {
  try {
    await refresh();
  } catch { /* offline: anonymous */ }
  return session.user;
}

export async function api(method, path, body) {
  try {
    return await rawFetch(method, path, body, session.token);
  } catch (e) {
    // an expired access token: one refresh, one more try
    if (e.status === 401 && session.token && e.code !== 'invalid_credentials') {
      if (await refresh()) return rawFetch(method, path, body, session.token);
    }
    throw e;
  }
}

export async function login(email, password) {
  const a = await rawFetch('POST', '/api/v1/auth/session/login', { email, password });
  setSession(a);
  return a.user;
}

export async function register(body) {
  const a = await rawFetch('POST', '/api/v1/auth/session/register', body);
  setSession(a);
  return a.user;
}

export async function logout() {
  try {
    await rawFetch('POST', '/api/v1/auth/session/logout');
  } finally {
    setSession(null);
  }
}

export async function loadMe() {
  session.user = await api('GET', '/api/v1/me');
  for (const fn of session.listeners) fn(session.user);
  return session.user;
}

// an API error in words, in the page's language
export function errorText(e) {
  if (!(e instanceof ApiError)) return t('err.unexpected');
  const key = `err.${e.code}`;
  const known = t(key);
  if (known !== key) return known;
  if (e.code === 'validation_failed' && e.details?.field) return t('err.field', { field: e.details.field, message: e.message });
  if (e.status >= 500) return t('err.server');
  return e.message;
}

export function errorNotice(e) {
  return notice(errorText(e), 'error');
}

// a list route this server does not have (yet): a clear message instead of an error
export function unavailable(e) {
  return e instanceof ApiError && (e.status === 404 || e.status === 405);
}

// ---------------------------------------------------------------------------
// realtime: one socket, resumed with ?since= after a reconnect

const rt = { ws: null, lastId: null, handlers: new Set(), retry: 0, timer: null, wanted: false, state: 'off', stateFns: new Set() };

export function onEvent(fn) {
  rt.handlers.add(fn);
  return () => rt.handlers.delete(fn);
}
export function onRealtimeState(fn) {
  rt.stateFns.add(fn);
  fn(rt.state);
  return () => rt.stateFns.delete(fn);
}
const setRt = (s) => { rt.state = s; for (const fn of rt.stateFns) fn(s); };

export function realtimeStart() {
  rt.wanted = true;
  if (!rt.ws) connect();
}

export function realtimeStop() {
  rt.wanted = false;
  clearTimeout(rt.timer);
  if (rt.ws) rt.ws.close(1000);
  rt.ws = null;
  setRt('off');
}

async function connect() {
  if (!rt.wanted) return;
  if (!session.token || session.expiresAt - Date.now() < 30000) await refresh().catch(() => null);
  if (!session.token) { setRt('off'); return; }
  const url = new URL('/api/v1/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('access_token', session.token);
  if (rt.lastId) url.searchParams.set('since', rt.lastId);
  const ws = new WebSocket(url);
  rt.ws = ws;
  ws.onopen = () => { rt.retry = 0; setRt('live'); };
  ws.onmessage = (m) => {
    let e;
    try { e = JSON.parse(m.data); } catch { return; }
    if (e.id) rt.lastId = e.id;
    for (const fn of rt.handlers) fn(e);
  };
  ws.onclose = () => {
    if (rt.ws !== ws) return;
    rt.ws = null;
    if (!rt.wanted) return;
    setRt('reconnecting');
    rt.timer = setTimeout(connect, Math.min(10000, 250 * 2 ** rt.retry++));
  };
}

// the socket lives as long as its token: hand it each new one
onSession(() => {
  if (rt.ws?.readyState === 1 && session.token) rt.ws.send(JSON.stringify({ type: 'auth', access_token: session.token }));
  if (!session.token && rt.ws) realtimeStop();
});

// ---------------------------------------------------------------------------
// the router: History API; links with data-link navigate without a reload

export function router(routes, render) {
  const go = () => {
    const path = location.pathname;
    let done;
    const m = routes.map(([re, fn]) => [re.exec(path), fn]).find(([x]) => x);
    if (m) done = render(m[1], m[0].slice(1).map(decodeURIComponent), new URLSearchParams(location.search));
    else done = render(null, [], new URLSearchParams(location.search));
    // the page has its data and its controls work: when (ms after navigation start), for tests and budgets
    Promise.resolve(done).finally(() => { document.body.dataset.ready = String(Math.round(performance.now())); });
  };
  window.addEventListener('popstate', go);
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest?.('a[href]');
    if (!a || a.target || a.origin !== location.origin || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    if (!routes.some(([re]) => re.exec(a.pathname))) return;
    ev.preventDefault();
    navigate(a.pathname + a.search);
  });
  navigate.go = go;
  go();
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  navigate.go();
  window.scrollTo(0, 0);
}

// focus the page's heading after a navigation, for keyboard and screen-reader users
export function focusHeading(root) {
  const h1 = root.querySelector('h1');
  if (h1) {
    h1.tabIndex = -1;
    h1.focus({ preventScroll: true });
  }
}

// a small safe Markdown subset as DOM nodes (the admin's preview; the server renders posts)
export function markdown(src) {
  const frag = document.createDocumentFragment();
  const inline = (text) => {
    const out = [];
    const re = /(\*\*([^*]+)\*\*|\*([^*]+)\*|`([^`]+)`|\[([^\]]+)\]\((https?:\/\/[^)\s]+|\/[^)\s]*)\))/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      out.push(text.slice(last, m.index));
      if (m[2]) out.push(h('strong', {}, m[2]));
      else if (m[3]) out.push(h('em', {}, m[3]));
      else if (m[4]) out.push(h('code', {}, m[4]));
      else out.push(h('a', { href: m[6] }, m[5]));
      last = re.lastIndex;
    }
    out.push(text.slice(last));
    return out;
  };
  let list = null;
  let para = [];
  const flush = () => {
    if (para.length) frag.append(h('p', {}, inline(para.join(' '))));
    para = [];
  };
  for (const line of src.split('\n')) {
    const hm = /^(#{1,4})\s+(.*)$/.exec(line);
    const li = /^\s*[-*]\s+(.*)$/.exec(line);
    if (hm) { flush(); list = null; frag.append(h(`h${hm[1].length + 1}`, {}, inline(hm[2]))); }
    else if (li) { flush(); if (!list) { list = h('ul'); frag.append(list); } list.append(h('li', {}, inline(li[1]))); }
    else if (!line.trim()) { flush(); list = null; }
    else { list = null; para.push(line.trim()); }
  }
  flush();
  return frag;
}

// An inline SVG bar or line chart of [{label, value}], with a text alternative. The SVG
// stretches to the box (its strokes and dots keep their size); the labels are HTML text
// under it and over it, so that they keep the page's type size at any width: a label
// every few points, at most `ticks` of them.
export function chart(title, points, { kind = 'bar', format = String, ticks = 6 } = {}) {
  const ns = 'http://www.w3.org/2000/svg';
  const n = Math.max(1, points.length);
  const w = 100 * n; // 100 units a point
  const height = 100;
  const max = Math.max(1, ...points.map((p) => p.value));
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${title}: ${points.map((p) => `${p.label} ${format(p.value)}`).join(', ')}`);
  svg.classList.add('chart');
  const mk = (tag, attrs) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    svg.append(el);
    return el;
  };
  const y = (v) => height - (v / max) * (height - 4);
  const titled = (el, p) => {
    const tt = document.createElementNS(ns, 'title');
    tt.textContent = `${p.label}: ${format(p.value)}`;
    el.append(tt);
  };
  const every = Math.ceil(n / ticks);
  points.forEach((p, i) => {
    if (i % every === 0) mk('line', { x1: i * 100, y1: 0, x2: i * 100, y2: height, class: 'grid' });
  });
  if (kind === 'bar') {
    points.forEach((p, i) => titled(mk('rect', { x: i * 100 + 12, y: y(p.value), width: 76, height: height - y(p.value), class: 'bar' }), p));
  } else {
    mk('polyline', { points: points.map((p, i) => `${i * 100 + 50},${y(p.value)}`).join(' '), class: 'line', fill: 'none' });
    // a line of no length with round caps: a dot that a stretched box does not flatten
    points.forEach((p, i) => titled(mk('line', { x1: i * 100 + 50, y1: y(p.value), x2: i * 100 + 50, y2: y(p.value), class: 'dot' }), p));
  }
  mk('line', { x1: 0, y1: height, x2: w, y2: height, class: 'axis' });
  // the labels: hidden from screen readers, which read the SVG's label
  const axis = h('div', { class: 'chart-ticks', 'aria-hidden': 'true' });
  axis.style.gridTemplateColumns = `repeat(${n}, minmax(0, 1fr))`;
  points.forEach((p, i) => {
    if (i % every) return;
    const tick = h('span', {}, p.label);
    tick.style.gridColumn = `${i + 1} / span ${Math.min(every, n - i)}`;
    axis.append(tick);
  });
  return h('figure', { class: 'chart-box' }, h('figcaption', {}, title),
    h('div', { class: 'chart-plot' }, h('span', { class: 'chart-max', 'aria-hidden': 'true' }, format(max)), svg), axis);
}

// the header's language switch
export function langSwitch(rerender) {
  return h('button', {
    type: 'button', class: 'lang', lang: lang === 'en' ? 'fr' : 'en',
    'aria-label': lang === 'en' ? 'Français' : 'English',
    onclick: () => { setLang(lang === 'en' ? 'fr' : 'en'); rerender(); },
  }, lang === 'en' ? 'FR' : 'EN');
}
