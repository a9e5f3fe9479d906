// The admin console: stats, bookings, users and roles, the audit log, posts, e-mail
// templates and captured mails, dead outbound mails.
import {
  ApiError, addDays, api, chart, clear, currentUser, dateTime, errorNotice, errorText, field, focusHeading, h, langSwitch,
  loading, login, logout, markdown, money, navigate, notice, onSession, percent, restoreSession, router, select, t, today, unavailable,
} from './common.js';

const main = document.getElementById('main');
const ROLES = ['member', 'host', 'admin'];
const STATUSES = ['pending_payment', 'confirmed', 'cancelled', 'expired', 'completed'];

function header() {
  const link = (href, label) => h('a', { href, 'aria-current': location.pathname === href ? 'page' : null }, label);
  const user = currentUser();
  return h('div', { class: 'bar' },
    h('a', { href: '/admin', class: 'brand' }, 'workon admin'),
    user?.role === 'admin'
      ? h('nav', { 'aria-label': t('nav.main') },
        link('/admin', t('admin.stats')), link('/admin/bookings', t('admin.bookings')), link('/admin/users', t('admin.users')),
        link('/admin/audit', t('admin.audit')), link('/admin/posts', t('admin.posts')), link('/admin/emails', t('admin.emails')),
        link('/admin/outbox', t('admin.outbox')), h('a', { href: '/' }, t('admin.site')))
      : h('nav', { 'aria-label': t('nav.main') }, h('a', { href: '/' }, t('admin.site'))),
    langSwitch(() => navigate.go()),
    user ? h('button', { type: 'button', class: 'secondary', onclick: async () => { await logout(); navigate('/admin'); } }, t('account.logout')) : null);
}

function page(title, ...children) {
  document.title = `${title} · workon admin`;
  clear(document.getElementById('top'), header());
  clear(main, h('h1', {}, title), ...children);
  focusHeading(main);
}

function form(fn, ...children) {
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const f = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      clear(status);
      try {
        await fn(Object.fromEntries(new FormData(f)), status, ev.submitter);
      } catch (e) {
        clear(status, errorNotice(e));
      }
    },
  }, ...children, status);
  return f;
}

const input = (name, attrs = {}) => h('input', { name, ...attrs });

// a table of rows: columns [header, cell(row)]
function table(caption, columns, rows) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map(([label]) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map(([, cell]) => h('td', {}, cell(r))))))));
}

// a list from a route that may not exist on this server yet
async function load(box, path, render, missingKey) {
  clear(box, loading());
  try {
    render(await api('GET', path));
  } catch (e) {
    clear(box, unavailable(e) ? notice(t(missingKey ?? 'admin.unavailable')) : errorNotice(e));
  }
}

// ---------------------------------------------------------------------------

function loginGate() {
  page(t('admin.login'),
    form(async (v) => {
      const u = await login(v.email, v.password);
      if (u.role !== 'admin') throw new ApiError(403, 'forbidden', t('admin.only'));
      navigate.go();
    },
    field(t('login.email'), input('email', { type: 'email', autocomplete: 'username', required: true })),
    field(t('login.password'), input('password', { type: 'password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit' }, t('login.submit'))));
}

async function statsPage(_, q) {
  // the last 30 days and the next 30: revenue so far, bookings and occupancy to come
  const from = q.get('from') || addDays(today(), -29);
  const to = q.get('to') || addDays(today(), 30);
  const box = h('div', { 'aria-live': 'polite' });
  page(t('admin.stats'),
    form((v) => navigate(`/admin?from=${v.from}&to=${v.to}`),
      h('div', { class: 'row' },
        field(t('admin.from'), input('from', { type: 'date', value: from, required: true })),
        field(t('admin.to'), input('to', { type: 'date', value: to, required: true })),
        h('button', { type: 'submit' }, t('admin.show')))),
    box);
  await load(box, `/api/v1/admin/stats?from=${from}&to=${to}`, (s) => {
    const days = [];
    for (let d = from; d <= to; d = addDays(d, 1)) days.push(d);
    const label = (d) => d.slice(5, 10);
    // revenue per day, in the currency with most of it
    const byCur = new Map();
    for (const r of s.revenue ?? []) byCur.set(r.currency, (byCur.get(r.currency) ?? 0) + Math.abs(r.net_cents));
    const cur = [...byCur].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'eur';
    const net = new Map((s.revenue ?? []).filter((r) => r.currency === cur).map((r) => [r.day.slice(0, 10), r.net_cents]));
    // occupancy per day over every space: booked hours over open hours; each space's arrays
    // have one element a day of its zone from its first_day on
    const open = new Map();
    const booked = new Map();
    for (const sp of s.occupancy ?? []) {
      (sp.daily_open_hours ?? []).forEach((x, i) => {
        const k = addDays(sp.first_day, i);
        open.set(k, (open.get(k) ?? 0) + Number(x ?? 0));
        booked.set(k, (booked.get(k) ?? 0) + Number(sp.daily_booked_hours?.[i] ?? 0));
      });
    }
    const occ = (k) => (open.get(k) ? (100 * booked.get(k)) / open.get(k) : 0);
    const totalOpen = (s.occupancy ?? []).reduce((a, sp) => a + Number(sp.open_hours ?? 0), 0);
    const totalBooked = (s.occupancy ?? []).reduce((a, sp) => a + Number(sp.booked_hours ?? 0), 0);
    const newUsers = new Map((s.new_users ?? []).map((r) => [r.day.slice(0, 10), r.count]));
    const byStatus = s.bookings?.by_status ?? {};
    clear(box,
      h('ul', { class: 'kpis' },
        h('li', {}, h('strong', {}, String(s.bookings?.total ?? 0)), ' ', t('admin.kpi_bookings')),
        h('li', {}, h('strong', {}, money({ amount_cents: [...net.values()].reduce((a, b) => a + b, 0), currency: cur })), ' ', t('admin.kpi_revenue')),
        h('li', {}, h('strong', { class: 'occupancy' }, percent(totalOpen ? (100 * totalBooked) / totalOpen : 0)), ' ', t('admin.kpi_occupancy'))),
      h('div', { class: 'charts' },
        chart(t('admin.chart_revenue'), days.map((d) => ({ label: label(d), value: net.get(d) ?? 0 })),
          { kind: 'line', format: (v) => money({ amount_cents: v, currency: cur }) }),
        chart(t('admin.chart_occupancy'), days.map((d) => ({ label: label(d), value: occ(d) })), { format: percent }),
        chart(t('admin.chart_users'), days.map((d) => ({ label: label(d), value: newUsers.get(d) ?? 0 }))),
        h('figure', { class: 'chart-box' }, h('figcaption', {}, t('admin.chart_bookings')),
          h('table', { class: 'bars' }, h('tbody', {}, Object.entries(byStatus).map(([k, v]) => h('tr', {},
            h('th', { scope: 'row' }, t(`status.${k}`)),
            h('td', { class: 'num' }, String(v)),
            h('td', {}, h('progress', { max: Math.max(1, s.bookings?.total ?? 0), value: v, 'aria-label': t(`status.${k}`) })))))))),
      (s.top_spaces ?? []).length ? table(t('admin.top_spaces'), [
        [t('admin.space'), (x) => h('a', { href: `/spaces/${x.space_id}` }, x.name)],
        [t('search.city'), (x) => x.city],
        [t('admin.kpi_bookings'), (x) => String(x.bookings)],
        [t('admin.hours'), (x) => String(x.booked_hours)],
      ], s.top_spaces) : null);
  }, 'admin.stats_unavailable');
}

// every booking, through GET /api/v1/bookings (admins see all): its filters (space, status,
// overlapping a period) and its cursor, a page at a time; a booking's id opens it alone
async function bookingsPage(_, q) {
  const box = h('div', {});
  const keys = ['id', 'space_id', 'status', 'from', 'to'];
  const v = Object.fromEntries(keys.map((k) => [k, (q.get(k) ?? '').trim()]));
  const show = (extra = {}) => `/admin/bookings?${new URLSearchParams(Object.entries({ ...v, ...extra }).filter(([, x]) => x))}`;
  page(t('admin.bookings'),
    form((f) => navigate(`/admin/bookings?${new URLSearchParams(Object.entries(f).filter(([, x]) => x))}`),
      h('div', { class: 'row' },
        field(t('admin.booking_id'), input('id', { type: 'search', value: v.id }), t('admin.booking_id_hint')),
        field(t('admin.space_id'), input('space_id', { type: 'search', value: v.space_id })),
        field(t('admin.status'), select('status', [['', t('search.any')], ...STATUSES.map((s) => [s, t(`status.${s}`)])], v.status)),
        field(t('admin.from'), input('from', { type: 'date', value: v.from })),
        field(t('admin.to'), input('to', { type: 'date', value: v.to })),
        h('button', { type: 'submit' }, t('admin.show')))),
    box);
  const rows = (list) => table(t('admin.bookings'), [
    [t('admin.when'), (b) => dateTime(b.starts_at)],
    [t('admin.status'), (b) => h('span', { class: `tag status-${b.status}` }, t(`status.${b.status}`))],
    [t('admin.price'), (b) => money(b.price)],
    [t('admin.member'), (b) => h('a', { href: `/admin/users?q=${b.user_id}` }, b.user_id.slice(0, 8))],
    [t('admin.space'), (b) => h('a', { href: `/admin/bookings?space_id=${b.space_id}` }, b.space_id.slice(0, 8))],
    [t('admin.audit'), (b) => h('a', { href: `/admin/audit?entity=bookings&entity_id=${b.id}` }, t('admin.history'))],
  ], list);
  if (v.id) {
    clear(box, loading());
    try {
      const b = await api('GET', `/api/v1/bookings/${encodeURIComponent(v.id)}`);
      clear(box, rows([b]));
    } catch (e) {
      clear(box, e instanceof ApiError && (e.status === 404 || e.status === 400) ? notice(t('admin.none')) : errorNotice(e));
    }
    return;
  }
  const p = new URLSearchParams();
  if (v.space_id) p.set('space_id', v.space_id);
  if (v.status) p.set('status', v.status);
  if (v.from) p.set('from', `${v.from}T00:00:00Z`);
  if (v.to) p.set('to', `${addDays(v.to, 1)}T00:00:00Z`); // the whole last day
  p.set('limit', /^\d+$/.test(q.get('limit') ?? '') ? q.get('limit') : '50');
  if (q.get('cursor')) p.set('cursor', q.get('cursor'));
  await load(box, `/api/v1/bookings?${p}`, (res) => {
    const more = [
      q.get('cursor') ? h('a', { href: show({ limit: q.get('limit') ?? '' }) }, t('admin.newest')) : null,
      res.next_cursor ? h('a', { href: show({ limit: q.get('limit') ?? '', cursor: res.next_cursor }), rel: 'next' }, t('admin.older')) : null,
    ].filter(Boolean);
    clear(box, res.data.length ? rows(res.data) : notice(t('admin.none')),
      more.length ? h('nav', { class: 'pager', 'aria-label': t('admin.pages') }, more.flatMap((a, i) => (i ? [' · ', a] : [a]))) : null);
  });
}

async function usersPage(_, q) {
  const box = h('div', {});
  page(t('admin.users'),
    form((v) => navigate(`/admin/users?${new URLSearchParams(Object.entries(v).filter(([, x]) => x))}`),
      h('div', { class: 'row' },
        field(t('admin.search'), input('q', { type: 'search', value: q.get('q') ?? '' }), t('admin.users_hint')),
        field(t('admin.role'), select('role', [['', t('search.any')], ...ROLES.map((r) => [r, t(`role.${r}`)])], q.get('role') ?? '')),
        h('button', { type: 'submit' }, t('admin.show')))),
    box);
  const p = new URLSearchParams();
  if (q.get('q')) p.set('q', q.get('q'));
  if (q.get('role')) p.set('role', q.get('role'));
  p.set('limit', '50');
  await load(box, `/api/v1/admin/users?${p}`, (res) => {
    clear(box, res.data.length ? table(t('admin.users'), [
      [t('register.name'), (u) => u.name],
      [t('login.email'), (u) => u.email],
      [t('admin.role'), (u) => roleForm(u)],
      [t('admin.audit'), (u) => h('a', { href: `/admin/audit?entity=users&entity_id=${u.id}` }, t('admin.history'))],
    ], res.data) : notice(t('admin.none')));
  }, 'admin.users_unavailable');
}

function roleForm(u) {
  const sel = select('role', ROLES.map((r) => [r, t(`role.${r}`)]), u.role);
  sel.setAttribute('aria-label', t('admin.role_of', { name: u.name || u.email }));
  const dis = h('input', { type: 'checkbox', name: 'disabled', checked: !!u.disabled });
  return form(async (v, status) => {
    const res = await api('PATCH', `/api/v1/admin/users/${u.id}`, { role: v.role, disabled: !!v.disabled });
    clear(status, notice(t('admin.role_saved', { role: t(`role.${res.role}`) }), 'ok'));
  }, h('div', { class: 'inline' }, sel, h('label', {}, dis, ' ', t('admin.disabled')),
    h('button', { type: 'submit', class: 'small' }, t('save'))));
}

async function auditPage(_, q) {
  const box = h('div', {});
  const keys = ['actor', 'entity', 'entity_id', 'action'];
  page(t('admin.audit'),
    form((v) => navigate(`/admin/audit?${new URLSearchParams(Object.entries(v).filter(([, x]) => x))}`),
      h('div', { class: 'row' },
        ...keys.map((k) => field(t(`admin.audit_${k}`), input(k, { value: q.get(k) ?? '' }))),
        h('button', { type: 'submit' }, t('admin.show')))),
    box);
  const p = new URLSearchParams(keys.filter((k) => q.get(k)).map((k) => [k, q.get(k)]));
  p.set('limit', '50');
  await load(box, `/api/v1/admin/audit?${p}`, (res) => {
    clear(box, res.data.length ? table(t('admin.audit'), [
      [t('admin.when'), (r) => dateTime(r.at ?? r.created_at)],
      [t('admin.audit_actor'), (r) => (r.actor_id ?? r.actor ?? '—').toString().slice(0, 8)],
      [t('admin.audit_action'), (r) => r.action],
      [t('admin.audit_entity'), (r) => `${r.entity} ${String(r.entity_id ?? '').slice(0, 8)}`],
      [t('admin.change'), (r) => h('code', { class: 'change' }, summary(r))],
    ], res.data) : notice(t('admin.none')));
  }, 'admin.audit_unavailable');
}

function summary(r) {
  const after = r.after ?? {};
  const before = r.before ?? {};
  const keys = (Array.isArray(r.changed) && r.changed.length ? r.changed : Object.keys(after))
    .filter((k) => JSON.stringify(after[k]) !== JSON.stringify(before[k]) && k !== 'updated_at');
  return keys.slice(0, 4).map((k) => `${k}: ${before[k] !== undefined ? `${JSON.stringify(before[k])} → ` : ''}${JSON.stringify(after[k])}`).join('; ');
}

// ---------------------------------------------------------------------------
// posts

async function postsPage() {
  const box = h('div', {});
  page(t('admin.posts'), h('p', {}, h('a', { href: '/admin/posts/new', class: 'button' }, t('admin.post_new'))), box);
  await load(box, '/api/v1/admin/posts?limit=50', (res) => {
    clear(box, res.data.length ? table(t('admin.posts'), [
      [t('admin.post_title'), (p) => h('a', { href: `/admin/posts/${p.id}` }, p.title)],
      [t('admin.locale'), (p) => p.locale ?? ''],
      [t('admin.status'), (p) => h('span', { class: `tag status-${p.status}` }, t(`post.${p.status}`))],
      [t('admin.published'), (p) => (p.published_at ? dateTime(p.published_at) : '—')],
    ], res.data) : notice(t('admin.none')));
  }, 'admin.posts_unavailable');
}

let postSaved = false;
async function postEditPage([id]) {
  const isNew = id === 'new';
  let post = { title: '', slug: '', excerpt: '', markdown: '', tags: [], locale: 'en', published_at: null };
  if (!isNew) {
    try {
      post = await api('GET', `/api/v1/admin/posts/${encodeURIComponent(id)}`);
    } catch (e) {
      page(t('admin.posts'), unavailable(e) ? notice(t('admin.posts_unavailable')) : errorNotice(e));
      return;
    }
  }
  const md = h('textarea', { name: 'markdown', rows: 14 }, post.markdown ?? '');
  const preview = h('div', { class: 'preview', 'aria-live': 'polite' });
  const show = () => clear(preview, markdown(md.value));
  md.addEventListener('input', show);
  // datetime-local is the browser's local time
  const local = (iso) => {
    if (!iso) return '';
    const d = new Date(iso);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  };
  const saved = postSaved;
  postSaved = false;
  page(isNew ? t('admin.post_new') : post.title,
    saved ? notice(t('saved'), 'ok') : null,
    post.status ? h('p', {},
      h('span', { class: `tag status-${post.status}` }, t(`post.${post.status}`)),
      post.status === 'published' ? [' ', h('a', { href: `/blog/${encodeURIComponent(post.slug)}` }, t('admin.post_view'))] : null,
      post.status === 'scheduled' ? ` ${dateTime(post.published_at)}` : null) : null,
    form(async (v, status) => {
      const body = {
        title: v.title, markdown: v.markdown, locale: v.locale, excerpt: v.excerpt || null,
        tags: v.tags.split(',').map((x) => x.trim()).filter(Boolean),
        published_at: v.published_at ? new Date(v.published_at).toISOString() : null,
      };
      if (v.slug) body.slug = v.slug;
      const saved = isNew ? await api('POST', '/api/v1/admin/posts', body) : await api('PATCH', `/api/v1/admin/posts/${post.id}`, body);
      // the page again, with the post's status (draft, scheduled, published) as the server has it
      postSaved = true;
      navigate(`/admin/posts/${saved.id}`, { replace: true });
    },
    h('div', { class: 'row' },
      field(t('admin.post_title'), input('title', { value: post.title, required: true })),
      field('Slug', input('slug', { value: post.slug ?? '', pattern: '[a-z0-9]+(-[a-z0-9]+)*', maxlength: 80 }), t('admin.slug_hint'))),
    field(t('admin.excerpt'), input('excerpt', { value: post.excerpt ?? '' })),
    h('div', { class: 'row' },
      field(t('admin.tags'), input('tags', { value: (post.tags ?? []).join(', ') })),
      field(t('admin.locale'), select('locale', [['en', 'English'], ['fr', 'Français']], post.locale ?? 'en')),
      field(t('admin.publish_at'), input('published_at', { type: 'datetime-local', value: local(post.published_at) }), t('admin.publish_hint'))),
    h('div', { class: 'two' }, field('Markdown', md), h('section', { 'aria-label': t('admin.preview') }, h('h2', {}, t('admin.preview')), preview)),
    h('button', { type: 'submit' }, t('save'))));
  show();
}

// ---------------------------------------------------------------------------
// e-mails

async function emailsPage(_, q) {
  const tpl = h('div', {});
  const mails = h('div', {});
  const status = q.get('status') ?? '';
  const p = new URLSearchParams();
  if (status) p.set('status', status);
  if (q.get('to')) p.set('to', q.get('to'));
  p.set('limit', '50');
  // both lists before the page shows: nothing moves once it is there
  await Promise.all([
    load(tpl, '/api/v1/admin/email-templates', (res) => {
      clear(tpl, table(t('admin.templates'), [
        ['Key', (x) => h('a', { href: `/admin/emails/templates/${x.key}/${x.locale}` }, x.key)],
        [t('admin.locale'), (x) => x.locale],
        [t('admin.subject'), (x) => x.subject],
        [t('admin.custom'), (x) => (x.custom ? t('yes') : t('no'))],
      ], res.data));
    }),
    mailList(mails, `/api/v1/admin/emails?${p}`),
  ]);
  page(t('admin.emails'), h('h2', {}, t('admin.templates')), tpl, h('h2', {}, t('admin.captured')),
    form((v) => navigate(`/admin/emails?${new URLSearchParams(Object.entries(v).filter(([, x]) => x))}`),
      h('div', { class: 'row' },
        field(t('admin.status'), select('status', [['', t('search.any')], ['pending', 'pending'], ['done', 'done'], ['dead', 'dead']], status)),
        field(t('admin.to_addr'), input('to', { type: 'search', value: q.get('to') ?? '' })),
        h('button', { type: 'submit' }, t('admin.show')))),
    mails);
}

async function mailList(box, path) {
  await load(box, path, (res) => {
    clear(box, res.data.length ? table(t('admin.captured'), [
      [t('admin.when'), (m) => dateTime(m.created_at)],
      [t('admin.to_addr'), (m) => m.to],
      [t('admin.subject'), (m) => h('a', { href: `/admin/emails/${m.id}` }, m.subject ?? m.template ?? `#${m.id}`)],
      [t('admin.status'), (m) => h('span', { class: `tag status-${m.status}` }, m.status)],
      ['', (m) => (m.status === 'dead' ? [retryButton(m), ' ', h('small', { class: 'muted' }, m.last_error ?? '')] : m.last_error ?? '')],
    ], res.data) : notice(t('admin.none')));
  });
}

function retryButton(m, path = `/api/v1/admin/emails/${m.id}/retry`) {
  const out = h('span', { 'aria-live': 'polite' });
  return h('span', {}, h('button', {
    type: 'button', class: 'small',
    onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await api('POST', path);
        clear(out, ' ', t('admin.retried'));
      } catch (e) {
        ev.target.disabled = false;
        clear(out, ' ', errorText(e));
      }
    },
  }, t('admin.retry')), out);
}

async function emailPage([id]) {
  const box = h('div', {});
  page(t('admin.email'), box, h('p', {}, h('a', { href: '/admin/emails' }, t('admin.emails'))));
  await load(box, `/api/v1/admin/emails/${id}`, (m) => {
    clear(box,
      h('dl', { class: 'meta' },
        h('dt', {}, t('admin.to_addr')), h('dd', {}, m.to),
        h('dt', {}, t('admin.subject')), h('dd', {}, m.subject ?? ''),
        h('dt', {}, t('admin.status')), h('dd', {}, m.status, m.status === 'dead' ? [' ', retryButton(m)] : null)),
      h('pre', { class: 'mail' }, m.text ?? ''));
  });
}

async function templatePage([key, locale]) {
  const box = h('div', {});
  page(`${key} (${locale})`, box);
  await load(box, '/api/v1/admin/email-templates', (res) => {
    const x = res.data.find((r) => r.key === key && r.locale === locale);
    if (!x) { clear(box, notice(t('admin.none'))); return; }
    clear(box,
      x.placeholders ? h('p', { class: 'muted' }, t('admin.placeholders'), ' ', x.placeholders.map((p) => `{{${p}}}`).join(' ')) : null,
      form(async (v, status) => {
        await api('PUT', `/api/v1/admin/email-templates/${key}/${locale}`, { subject: v.subject, text: v.text, html: v.html });
        clear(status, notice(t('saved'), 'ok'));
      },
      field(t('admin.subject'), input('subject', { value: x.subject, required: true })),
      field(t('admin.text'), h('textarea', { name: 'text', rows: 10, required: true }, x.text)),
      field('HTML', h('textarea', { name: 'html', rows: 10, required: true }, x.html)),
      h('button', { type: 'submit' }, t('save'))),
      x.custom ? h('p', {}, h('button', {
        type: 'button', class: 'secondary',
        onclick: async () => { await api('DELETE', `/api/v1/admin/email-templates/${key}/${locale}`); navigate.go(); },
      }, t('admin.restore_default'))) : null);
  });
}

async function outboxPage(_, q) {
  const box = h('div', {});
  const kind = q.get('kind') ?? '';
  page(t('admin.outbox'), h('p', {}, t('admin.outbox_text')),
    form((v) => navigate(`/admin/outbox${v.kind ? `?kind=${v.kind}` : ''}`),
      h('div', { class: 'row' },
        field(t('admin.kind'), select('kind', [['', t('search.any')], ['stripe', 'Stripe'], ['email', t('admin.emails')], ['s3', 'S3']], kind)),
        h('button', { type: 'submit' }, t('admin.show')))),
    box);
  const p = new URLSearchParams({ status: 'dead', limit: '50' });
  if (kind) p.set('kind', kind);
  try {
    const res = await api('GET', `/api/v1/admin/outbox?${p}`);
    clear(box, res.data.length ? table(t('admin.outbox'), [
      [t('admin.when'), (o) => dateTime(o.updated_at)],
      [t('admin.kind'), (o) => `${o.kind} · ${o.purpose}`],
      [t('admin.call'), (o) => h('code', {}, `${o.method} ${o.path}`)],
      [t('admin.error'), (o) => `${o.last_error ?? ''}${o.response_status ? ` (${o.response_status})` : ''} · ${t('admin.attempts', { n: o.attempts })}`],
      ['', (o) => retryButton(o, `/api/v1/admin/outbox/${o.id}/retry`)],
    ], res.data) : notice(t('admin.none_dead')));
  } catch (e) {
    // a server without the outbox route: its dead mails at least
    if (unavailable(e)) await mailList(box, '/api/v1/admin/emails?status=dead&limit=50');
    else clear(box, errorNotice(e));
  }
}

// ---------------------------------------------------------------------------

const routes = [
  [/^\/admin\/?$/, statsPage],
  [/^\/admin\/bookings$/, bookingsPage],
  [/^\/admin\/users$/, usersPage],
  [/^\/admin\/audit$/, auditPage],
  [/^\/admin\/posts$/, postsPage],
  [/^\/admin\/posts\/([^/]+)$/, postEditPage],
  [/^\/admin\/emails$/, emailsPage],
  [/^\/admin\/emails\/templates\/([^/]+)\/([^/]+)$/, templatePage],
  [/^\/admin\/emails\/(\d+)$/, emailPage],
  [/^\/admin\/outbox$/, outboxPage],
];

onSession(() => { const top = document.getElementById('top'); if (top.firstChild) clear(top, header()); });

restoreSession().then(() => {
  router(routes, (fn, params, q) => {
    const u = currentUser();
    if (!u) return loginGate();
    if (u.role !== 'admin') return page(t('admin.title'), notice(t('admin.only'), 'error'));
    if (!fn) return page(t('notfound.title'), notice(t('notfound.text')));
    return Promise.resolve(fn(params, q)).catch((e) => page(t('err.title'), notice(errorText(e), 'error')));
  });
});
