// The public site: search, a space, booking and paying, the account pages, my bookings,
// messages (live) and the blog.
import {
  ApiError, addDays, api, clear, currentUser, getLang, dateTime, day, errorNotice, errorText, field, focusHeading, h, langSwitch,
  loadMe, loading, login, logout, money, navigate, notice, onEvent, onRealtimeState, onSession, realtimeStart, register,
  restoreSession, router, select, t, today, unavailable, zonedToDate,
} from './common.js';

const main = document.getElementById('main');
const KINDS = ['desk', 'private_office', 'meeting_room', 'event_space'];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

// spaces seen on this page, for names in lists of bookings and conversations
const spaceCache = new Map();
function space(id) {
  if (!spaceCache.has(id)) spaceCache.set(id, api('GET', `/api/v1/spaces/${id}`).catch(() => null));
  return spaceCache.get(id);
}

// ---------------------------------------------------------------------------
// layout

function header() {
  const user = currentUser();
  const link = (href, label) => h('a', { href, 'aria-current': location.pathname === href ? 'page' : null }, label);
  return h('div', { class: 'bar' },
    h('a', { href: '/', class: 'brand' }, 'workon'),
    h('nav', { 'aria-label': t('nav.main') },
      link('/', t('nav.spaces')),
      link('/blog', t('nav.blog')),
      user ? link('/bookings', t('nav.bookings')) : null,
      user ? link('/conversations', t('nav.messages')) : null,
      user && user.role !== 'member' ? link('/host', t('nav.host')) : null,
      user ? link('/account', user.name || t('nav.account')) : link('/login', t('nav.login'))),
    langSwitch(() => navigate.go()));
}

let cleanup = [];
function page(title, ...children) {
  document.title = `${title} · workon`;
  clear(document.getElementById('top'), header());
  clear(main, h('h1', {}, title), ...children);
  focusHeading(main);
  return main;
}

function needLogin() {
  if (currentUser()) return false;
  navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
  return true;
}

// a form whose submit runs fn, showing its errors in words
function form(fn, ...children) {
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const f = h('form', {
    novalidate: false,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const button = f.querySelector('button[type=submit]');
      button && (button.disabled = true);
      clear(status);
      try {
        await fn(Object.fromEntries(new FormData(f)), status);
      } catch (e) {
        clear(status, errorNotice(e));
      } finally {
        button && (button.disabled = false);
      }
    },
  }, ...children, status);
  return f;
}

function input(name, attrs = {}) {
  return h('input', { name, ...attrs });
}

// ---------------------------------------------------------------------------
// search

function coverOf(s) {
  const p = s.photos?.[0];
  return p
    ? h('img', { src: p.url, alt: '', width: 640, height: 400, loading: 'lazy', decoding: 'async' })
    : h('div', { class: 'img-placeholder', 'aria-hidden': 'true' });
}

function spaceCard(s, date) {
  const href = `/spaces/${s.id}${date ? `?date=${date}` : ''}`;
  return h('li', { class: 'card' },
    coverOf(s),
    h('div', { class: 'card-body' },
      h('h2', {}, h('a', { href }, s.name)),
      h('p', {}, `${t(`kind.${s.kind}`)} · ${s.city} · ${t('capacity_n', { n: s.capacity })}`),
      h('p', { class: 'price' }, t('per_hour', { price: money({ amount_cents: s.hourly_rate_cents, currency: s.currency }) }))));
}

async function searchPage(_, q) {
  const words = q.get('q') ?? '';
  const city = q.get('city') ?? '';
  const kind = q.get('kind') ?? '';
  const cap = q.get('min_capacity') ?? '';
  const date = q.get('date') ?? '';
  const results = h('div', { class: 'results', 'aria-live': 'polite' }, loading());
  page(t('search.title'),
    form((v) => {
      const p = new URLSearchParams(Object.entries(v).filter(([, x]) => x));
      navigate(`/?${p}`);
    },
    h('div', { class: 'search' },
      field(t('search.words'), input('q', { type: 'search', value: words, placeholder: t('search.words_hint') })),
      field(t('search.city'), input('city', { value: city, autocomplete: 'address-level2', placeholder: 'Berlin, Lisbon, Paris' })),
      field(t('search.kind'), select('kind', [['', t('search.any')], ...KINDS.map((k) => [k, t(`kind.${k}`)])], kind)),
      field(t('search.capacity'), input('min_capacity', { type: 'number', min: 1, inputmode: 'numeric', value: cap })),
      field(t('search.date'), input('date', { type: 'date', min: today(), value: date })),
      h('button', { type: 'submit' }, t('search.submit')))),
    results);
  const p = new URLSearchParams();
  if (words) p.set('q', words);
  if (city) p.set('city', city);
  if (kind) p.set('kind', kind);
  if (cap) p.set('min_capacity', cap);
  p.set('limit', '24');
  try {
    let res;
    let note = null;
    try {
      res = await api('GET', `/api/v1/spaces?${p}`);
    } catch (e) {
      // a server without the word search refuses q: search without it, and say so
      if (!(words && e instanceof ApiError && e.status === 400 && e.details?.field === 'q')) throw e;
      p.delete('q');
      res = await api('GET', `/api/v1/spaces?${p}`);
      note = notice(t('search.no_words'));
    }
    let list = res.data;
    for (const s of list) spaceCache.set(s.id, Promise.resolve(s));
    if (date) {
      // open that day (its weekday in the space's zone has opening hours)
      const wd = DAYS[(new Date(`${date}T12:00:00Z`).getUTCDay() + 6) % 7];
      list = list.filter((s) => (s.opening_hours?.[wd] ?? []).length > 0);
    }
    clear(results, note, list.length
      ? [h('p', { class: 'count' }, t('search.count', { n: list.length })), h('ul', { class: 'cards' }, list.map((s) => spaceCard(s, date)))]
      : notice(t('search.none')));
  } catch (e) {
    clear(results, errorNotice(e));
  }
}

// ---------------------------------------------------------------------------
// a space

function hoursTable(s) {
  return h('table', { class: 'hours' },
    h('caption', {}, t('space.hours', { tz: s.timezone })),
    h('tbody', {}, DAYS.map((d) => h('tr', {},
      h('th', { scope: 'row' }, t(`day.${d}`)),
      h('td', {}, (s.opening_hours?.[d] ?? []).map(([a, b]) => `${a}–${b}`).join(', ') || t('space.closed'))))));
}

function timeIn(iso, tz) {
  return new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso));
}

async function availabilityView(s, date, box) {
  clear(box, loading());
  try {
    // a date-only `to` includes its date: from and to the same date is that one day
    const a = await api('GET', `/api/v1/spaces/${s.id}/availability?from=${date}&to=${date}`);
    const rows = [
      ...a.free.map((x) => ({ ...x, kind: 'free' })),
      ...a.busy.map((x) => ({ ...x, kind: 'busy' })),
    ].sort((x, y) => x.starts_at.localeCompare(y.starts_at));
    clear(box,
      h('h3', {}, t('space.availability_on', { date: day(`${date}T12:00:00Z`) })),
      rows.length
        ? h('ul', { class: 'slots' }, rows.map((r) => h('li', { class: r.kind },
          h('span', {}, `${timeIn(r.starts_at, s.timezone)}–${timeIn(r.ends_at, s.timezone).replace(/^00:00$/, '24:00')}`), ' ',
          h('span', { class: 'tag' }, t(`space.${r.kind}`)))))
        : notice(t('space.closed_day')));
  } catch (e) {
    clear(box, errorNotice(e));
  }
}

function stars(n) {
  return h('p', { class: 'stars', role: 'img', 'aria-label': t('reviews.stars', { n }) }, '★'.repeat(n) + '☆'.repeat(5 - n));
}

// the space's rating from its document: {average, count}
function ratingLine(s) {
  const r = s.rating;
  return h('p', { class: 'rating', 'aria-live': 'polite' }, r?.count ? t(r.count === 1 ? 'space.rating_one' : 'space.rating', { avg: Number(r.average).toFixed(1), n: r.count }) : t('space.no_rating'));
}

// one review: the host answers it (once), an admin hides it with a reason or shows it again
function reviewItem(x, s, { rerender, hid, shown }) {
  const me = currentUser();
  const status = h('div', { 'aria-live': 'polite' });
  const act = (fn) => async (v) => {
    try {
      await fn(v);
      await rerender();
    } catch (e) {
      clear(status, errorNotice(e));
    }
  };
  const answerForm = me && me.id === s.host_id && !x.answer
    ? form(act((v) => api('POST', `/api/v1/reviews/${x.id}/answer`, { body: v.body })),
      field(t('reviews.your_answer'), h('textarea', { name: 'body', rows: 2, required: true, maxlength: 2000 })),
      h('button', { type: 'submit', class: 'secondary' }, t('reviews.answer_submit')))
    : null;
  let hideForm = null;
  if (me?.role === 'admin') {
    hideForm = x.hidden
      ? h('button', { type: 'button', class: 'secondary', onclick: act(async () => shown(await api('DELETE', `/api/v1/admin/reviews/${x.id}/hide`))) }, t('reviews.show'))
      : form(act(async (v) => hid(await api('POST', `/api/v1/admin/reviews/${x.id}/hide`, { reason: v.reason }))),
        field(t('reviews.hide_reason'), input('reason', { required: true, maxlength: 500 })),
        h('button', { type: 'submit', class: 'danger' }, t('reviews.hide')));
  }
  return h('li', { class: x.hidden ? 'review hidden' : 'review' },
    stars(x.rating),
    x.body ? h('p', {}, x.body) : null,
    h('p', { class: 'muted' }, `${x.author_name ?? ''} · ${day(x.created_at)}`, x.hidden ? ` · ${t('reviews.hidden', { reason: x.hidden_reason ?? '' })}` : ''),
    x.answer ? h('p', { class: 'answer' }, t('reviews.answer'), ' ', x.answer) : null,
    answerForm, hideForm, status);
}

// a member's ended bookings of the space that have no review yet
async function reviewable(s, reviews) {
  const me = currentUser();
  if (!me || me.id === s.host_id) return [];
  const done = new Set(reviews.map((x) => x.booking_id).filter(Boolean));
  const res = await api('GET', '/api/v1/bookings?limit=100').catch(() => ({ data: [] }));
  return res.data.filter((b) => b.space_id === s.id && ['confirmed', 'completed'].includes(b.status)
    && new Date(b.ends_at) <= Date.now() && !done.has(b.id));
}

function reviewForm(s, bookings, after) {
  return h('section', { class: 'write-review', 'aria-labelledby': 'write-review' },
    h('h3', { id: 'write-review' }, t('reviews.write')),
    form(async (v) => {
      await api('POST', `/api/v1/spaces/${s.id}/reviews`, { booking_id: v.booking_id, rating: Number(v.rating), ...(v.body.trim() ? { body: v.body } : {}) });
      await after();
    },
    bookings.length > 1
      ? field(t('reviews.booking'), select('booking_id', bookings.map((b) => [b.id, dateTime(b.starts_at, s.timezone)]), bookings[0].id))
      : input('booking_id', { type: 'hidden', value: bookings[0].id }),
    field(t('reviews.rating'), select('rating', [5, 4, 3, 2, 1].map((n) => [String(n), t('reviews.stars', { n })]), '5')),
    field(t('reviews.body'), h('textarea', { name: 'body', rows: 3, maxlength: 2000 })),
    h('button', { type: 'submit' }, t('reviews.submit'))));
}

// the reviews of the space; `changed` is told when the rating may have changed
async function reviewsView(s, box, changed) {
  const hidden = new Map(); // reviews an admin hid on this page: listed, with the reason, to be shown again
  const again = async () => { await render(); await changed(); };
  const hooks = { rerender: again, hid: (r) => hidden.set(r.id, r), shown: (r) => hidden.delete(r?.id) };
  async function render() {
    try {
      const r = await api('GET', `/api/v1/spaces/${s.id}/reviews?limit=50`);
      const list = [...(r.data ?? []).filter((x) => !hidden.has(x.id)), ...hidden.values()];
      const mine = await reviewable(s, list);
      clear(box, h('h2', {}, t('reviews.title')),
        list.length ? h('ul', { class: 'reviews' }, list.map((x) => reviewItem(x, s, hooks))) : notice(t('reviews.none')),
        mine.length ? reviewForm(s, mine, again) : null);
    } catch (e) {
      clear(box, h('h2', {}, t('reviews.title')), unavailable(e) ? notice(t('reviews.unavailable')) : errorNotice(e));
    }
  }
  await render();
}

async function spacePage([id], q) {
  page(t('loading'), loading());
  let s;
  try {
    s = await api('GET', `/api/v1/spaces/${id}`);
  } catch (e) {
    page(t('space.missing'), errorNotice(e), h('p', {}, h('a', { href: '/' }, t('back_to_search'))));
    return;
  }
  const date = q.get('date') || today();
  const avail = h('div', { class: 'availability', 'aria-live': 'polite' });
  const reviews = h('section', { class: 'reviews-box' }, loading());
  const photos = s.photos?.length
    ? h('div', { class: 'gallery' }, s.photos.map((p, i) => h('img', {
      src: p.url, alt: t('space.photo', { n: i + 1, name: s.name }), width: 640, height: 400, loading: i ? 'lazy' : 'eager',
    })))
    : h('div', { class: 'img-placeholder', 'aria-hidden': 'true' });
  const rating = ratingLine(s);
  const dateInput = input('date', { type: 'date', min: today(), value: date, required: true });
  dateInput.addEventListener('change', () => dateInput.value && availabilityView(s, dateInput.value, avail));

  page(s.name,
    photos,
    h('p', { class: 'lead' }, `${t(`kind.${s.kind}`)} · ${s.address}, ${s.city} · ${t('capacity_n', { n: s.capacity })}`),
    rating,
    h('p', { class: 'price' },
      t('per_hour', { price: money({ amount_cents: s.hourly_rate_cents, currency: s.currency }) }), ' · ',
      t('per_day', { price: money({ amount_cents: s.daily_rate_cents, currency: s.currency }) })),
    h('div', { class: 'two' },
      h('section', {}, hoursTable(s)),
      h('section', { class: 'book' },
        h('h2', {}, t('book.title')),
        form(async (v, status) => {
          if (needLogin()) return;
          const starts = zonedToDate(v.date, v.start, s.timezone);
          const ends = zonedToDate(v.date, v.end, s.timezone);
          const b = await api('POST', '/api/v1/bookings', { space_id: s.id, starts_at: starts.toISOString(), ends_at: ends.toISOString() });
          clear(status, notice(t('book.held', { price: money(b.price), until: dateTime(b.hold_expires_at) }), 'ok'),
            payButton(b));
          availabilityView(s, v.date, avail);
        },
        field(t('book.date'), dateInput),
        h('div', { class: 'row' },
          field(t('book.start', { tz: s.timezone }), input('start', { type: 'time', step: 900, value: '09:00', required: true })),
          field(t('book.end', { tz: s.timezone }), input('end', { type: 'time', step: 900, value: '10:00', required: true }))),
        h('button', { type: 'submit' }, t('book.submit'))),
        avail,
        currentUser() && currentUser().id !== s.host_id
          ? h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: () => contactHost(s) }, t('space.contact')))
          : null)),
    reviews);
  availabilityView(s, date, avail);
  reviewsView(s, reviews, async () => {
    const fresh = await api('GET', `/api/v1/spaces/${s.id}`).catch(() => null);
    if (fresh) clear(rating, ratingLine(fresh).textContent);
  });
}

async function contactHost(s) {
  try {
    const c = await api('POST', '/api/v1/conversations', { space_id: s.id });
    navigate(`/conversations/${c.id}`);
  } catch (e) {
    main.append(errorNotice(e));
  }
}

function payButton(b) {
  const status = h('div', { 'aria-live': 'polite' });
  return h('div', { class: 'pay' },
    h('button', {
      type: 'button',
      onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          const origin = location.origin;
          const c = await api('POST', `/api/v1/bookings/${b.id}/checkout`, {
            success_url: `${origin}/bookings/${b.id}?paid=1`, cancel_url: `${origin}/bookings/${b.id}`,
          });
          location.assign(c.url);
        } catch (e) {
          ev.target.disabled = false;
          clear(status, errorNotice(e));
        }
      },
    }, t('book.pay', { price: money(b.price) })),
    status);
}

// ---------------------------------------------------------------------------
// my bookings

function refundOf(b) {
  const hours = (new Date(b.starts_at) - Date.now()) / 3600e3;
  if (hours <= 0) return null;
  const percent = hours >= 24 ? 100 : 50;
  const paid = b.status === 'confirmed' ? b.price.amount_cents : 0;
  return { amount_cents: Math.floor((paid * percent) / 100 + 0.5), currency: b.price.currency, percent };
}

function statusTag(b) {
  return h('span', { class: `tag status-${b.status}`, dataset: { status: b.status } }, t(`status.${b.status}`));
}

function bookingItem(b, rerender, say) {
  const name = h('span', {}, '…');
  space(b.space_id).then((s) => { name.textContent = s?.name ?? t('space.unknown'); });
  const actions = h('div', { class: 'actions', 'aria-live': 'polite' });
  const canCancel = ['pending_payment', 'confirmed'].includes(b.status) && new Date(b.starts_at) > Date.now();
  if (b.status === 'pending_payment') actions.append(payButton(b));
  if (canCancel) {
    actions.append(h('button', {
      type: 'button', class: 'secondary',
      onclick: () => {
        const r = refundOf(b);
        const yes = h('button', {
          type: 'button', class: 'danger',
          onclick: async () => {
            yes.disabled = true;
            try {
              const done = await api('POST', `/api/v1/bookings/${b.id}/cancel`);
              // said above the list, which the booking's live update redraws
              say(notice(t('cancel.done', { amount: money(done.refund), percent: done.refund.percent }), 'ok'));
              rerender();
            } catch (e) {
              yes.disabled = false;
              actions.append(errorNotice(e));
            }
          },
        }, t('cancel.confirm'));
        clear(actions, h('div', { class: 'confirm', role: 'group', 'aria-label': t('cancel.title') },
          h('p', {}, r && r.amount_cents > 0 ? t('cancel.refund', { amount: money(r), percent: r.percent }) : t('cancel.no_refund')),
          yes, ' ', h('button', { type: 'button', class: 'secondary', onclick: rerender }, t('cancel.keep'))));
        yes.focus();
      },
    }, t('cancel.button')));
  }
  return h('li', { class: 'booking', id: `b-${b.id}` },
    h('p', {}, h('a', { href: `/bookings/${b.id}` }, name), ' ', statusTag(b)),
    h('p', {}, `${dateTime(b.starts_at)} – ${dateTime(b.ends_at)} · ${money(b.price)}`),
    b.refund ? h('p', {}, t('cancel.refunded', { amount: money(b.refund), percent: b.refund.percent })) : null,
    actions);
}

async function bookingsPage() {
  if (needLogin()) return;
  const box = h('div', {}, loading());
  const flash = h('div', { class: 'flash' });
  const say = (n) => clear(flash, n);
  page(t('bookings.title'), flash, box);
  const render = async () => {
    try {
      const res = await api('GET', '/api/v1/bookings?limit=50');
      clear(box, res.data.length ? h('ul', { class: 'list' }, res.data.map((b) => bookingItem(b, render, say))) : notice(t('bookings.none')));
    } catch (e) {
      clear(box, errorNotice(e));
    }
  };
  await render();
  realtimeStart();
  cleanup.push(onEvent((e) => { if (e.type === 'booking.updated' || e.type === 'payment.updated') render(); }));
}

async function bookingPage([id], q) {
  if (needLogin()) return;
  const box = h('div', { 'aria-live': 'polite' }, loading());
  const flash = h('div', { class: 'flash' }, q.get('paid') ? notice(t('booking.returned'), 'info') : null);
  page(t('booking.title'), flash, box, h('p', {}, h('a', { href: '/bookings' }, t('bookings.title'))));
  const render = async () => {
    try {
      const b = await api('GET', `/api/v1/bookings/${id}`);
      clear(box, h('ul', { class: 'list' }, bookingItem(b, render, (n) => clear(flash, n))));
    } catch (e) {
      clear(box, errorNotice(e));
    }
  };
  await render();
  realtimeStart();
  cleanup.push(onEvent((e) => { if ((e.type === 'booking.updated' || e.type === 'payment.updated')) render(); }));
}

// ---------------------------------------------------------------------------
// messages

function liveIndicator() {
  const el = h('p', { class: 'live', role: 'status' });
  cleanup.push(onRealtimeState((s) => { el.textContent = t(`live.${s}`); el.dataset.state = s; }));
  return el;
}

async function conversationsPage() {
  if (needLogin()) return;
  const box = h('div', {}, loading());
  page(t('messages.title'), liveIndicator(), box);
  const render = async () => {
    try {
      const res = await api('GET', '/api/v1/conversations?limit=50');
      clear(box, res.data.length
        ? h('ul', { class: 'list' }, res.data.map((c) => {
          const name = h('span', {}, '…');
          space(c.space_id).then((s) => { name.textContent = s?.name ?? t('space.unknown'); });
          return h('li', {},
            h('p', {}, h('a', { href: `/conversations/${c.id}` }, name),
              c.unread_count ? h('span', { class: 'tag' }, t('messages.unread', { n: c.unread_count })) : null),
            c.last_message ? h('p', { class: 'muted' }, c.last_message.body) : null);
        }))
        : notice(t('messages.none')));
    } catch (e) {
      clear(box, errorNotice(e));
    }
  };
  await render();
  realtimeStart();
  cleanup.push(onEvent((e) => { if (e.type === 'message.created') render(); }));
}

async function conversationPage([id]) {
  if (needLogin()) return;
  const list = h('ol', { class: 'thread', 'aria-live': 'polite', 'aria-label': t('messages.thread') });
  const seen = new Set();
  const me = currentUser();
  const add = (m) => {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    list.append(h('li', { class: m.sender_id === me.id ? 'mine' : 'theirs' },
      h('p', {}, m.body), h('small', {}, `${m.sender_id === me.id ? t('messages.you') : t('messages.them')} · ${dateTime(m.created_at)}`)));
    list.lastChild.scrollIntoView({ block: 'nearest' });
  };
  const body = h('textarea', { name: 'body', rows: 3, required: true, maxlength: 4000 });
  page(t('messages.conversation'), liveIndicator(), list,
    form(async (v) => {
      const m = await api('POST', `/api/v1/conversations/${id}/messages`, { body: v.body });
      add(m);
      body.value = '';
      body.focus();
    }, field(t('messages.write'), body), h('button', { type: 'submit' }, t('messages.send'))));
  try {
    const res = await api('GET', `/api/v1/conversations/${id}/messages?limit=100`);
    res.data.slice().reverse().forEach(add);
    api('POST', `/api/v1/conversations/${id}/read`).catch(() => {});
  } catch (e) {
    list.replaceWith(errorNotice(e));
    return;
  }
  realtimeStart();
  cleanup.push(onEvent((e) => {
    if (e.type === 'message.created' && e.data?.conversation_id === id) {
      add(e.data);
      api('POST', `/api/v1/conversations/${id}/read`).catch(() => {});
    }
  }));
}

// ---------------------------------------------------------------------------
// accounts

function loginPage(_, q) {
  if (currentUser()) { navigate('/account', { replace: true }); return; }
  const next = q.get('next');
  page(t('login.title'),
    form(async (v) => {
      await login(v.email, v.password);
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    },
    field(t('login.email'), input('email', { type: 'email', autocomplete: 'email', required: true })),
    field(t('login.password'), input('password', { type: 'password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit' }, t('login.submit'))),
    h('p', {}, h('a', { href: '/forgot-password' }, t('login.forgot')), ' · ', h('a', { href: '/register' }, t('login.register'))));
}

function registerPage() {
  page(t('register.title'),
    form(async (v) => {
      await register({ email: v.email, password: v.password, name: v.name, role: v.role || 'member' });
      navigate('/', { replace: true });
    },
    field(t('register.name'), input('name', { autocomplete: 'name', required: true })),
    field(t('login.email'), input('email', { type: 'email', autocomplete: 'email', required: true })),
    field(t('login.password'), input('password', { type: 'password', autocomplete: 'new-password', minlength: 8, required: true }), t('register.password_hint')),
    field(t('register.role'), select('role', [['member', t('role.member')], ['host', t('role.host')]], 'member')),
    h('button', { type: 'submit' }, t('register.submit'))));
}

function forgotPage() {
  page(t('forgot.title'),
    form(async (v, status) => {
      await api('POST', '/api/v1/auth/password/forgot', { email: v.email });
      clear(status, notice(t('forgot.sent'), 'ok'));
    },
    field(t('login.email'), input('email', { type: 'email', autocomplete: 'email', required: true })),
    h('button', { type: 'submit' }, t('forgot.submit'))));
}

function resetPage(_, q) {
  const token = q.get('token') ?? '';
  page(t('reset.title'),
    token ? null : notice(t('reset.no_token'), 'error'),
    form(async (v, status) => {
      await api('POST', '/api/v1/auth/password/reset', { token, password: v.password });
      clear(status, notice(t('reset.done'), 'ok'), h('a', { href: '/login' }, t('nav.login')));
    },
    field(t('reset.password'), input('password', { type: 'password', autocomplete: 'new-password', minlength: 8, required: true })),
    h('button', { type: 'submit' }, t('reset.submit'))));
}

async function verifyPage(_, q) {
  const box = h('div', { 'aria-live': 'polite' }, loading());
  page(t('verify.title'), box);
  try {
    await api('POST', '/api/v1/auth/verify-email', { token: q.get('token') ?? '' });
    clear(box, notice(t('verify.done'), 'ok'));
  } catch (e) {
    clear(box, errorNotice(e));
  }
}

async function accountPage() {
  if (needLogin()) return;
  const me = await loadMe().catch(() => currentUser());
  page(t('account.title'),
    h('p', {}, `${me.email} · ${t(`role.${me.role}`)}`),
    form(async (v, status) => {
      await api('PATCH', '/api/v1/me', { name: v.name, locale: v.locale });
      await loadMe();
      clear(status, notice(t('saved'), 'ok'));
    },
    field(t('register.name'), input('name', { value: me.name ?? '', required: true })),
    field(t('account.locale'), select('locale', [['en', 'English'], ['fr', 'Français']], me.locale)),
    h('button', { type: 'submit' }, t('save'))),
    h('h2', {}, t('account.password')),
    form(async (v, status) => {
      await api('POST', '/api/v1/me/password', { current_password: v.current_password, password: v.password });
      clear(status, notice(t('saved'), 'ok'));
    },
    field(t('account.current'), input('current_password', { type: 'password', autocomplete: 'current-password', required: true })),
    field(t('reset.password'), input('password', { type: 'password', autocomplete: 'new-password', minlength: 8, required: true })),
    h('button', { type: 'submit' }, t('save'))),
    me.role === 'admin' ? h('p', {}, h('a', { href: '/admin' }, t('account.admin'))) : null,
    h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: async () => { await logout(); navigate('/'); } }, t('account.logout'))));
}

// ---------------------------------------------------------------------------
// a host's page: their numbers and their spaces

async function hostPage() {
  if (needLogin()) return;
  const stats = h('section', { 'aria-labelledby': 'host-stats' }, h('h2', { id: 'host-stats' }, t('host.stats')), loading());
  const spaces = h('section', { 'aria-labelledby': 'host-spaces' }, h('h2', { id: 'host-spaces' }, t('host.spaces')), loading());
  page(t('host.title'), stats, spaces);
  const from = addDays(today(), -29);
  const to = addDays(today(), 30);
  await Promise.all([
    api('GET', `/api/v1/host/stats?from=${from}&to=${to}`).then((s) => {
      const cur = s.revenue?.[0]?.currency ?? 'eur';
      const net = (s.revenue ?? []).filter((r) => r.currency === cur).reduce((a, r) => a + r.net_cents, 0);
      clear(stats, h('h2', { id: 'host-stats' }, t('host.stats')),
        h('ul', { class: 'kpis' },
          h('li', {}, h('strong', {}, String(s.bookings?.total ?? 0)), ' ', t('host.bookings')),
          h('li', {}, h('strong', {}, money({ amount_cents: net, currency: cur })), ' ', t('host.revenue'))),
        (s.occupancy ?? []).length ? h('table', { class: 'bars' }, h('caption', {}, t('host.occupancy')), h('tbody', {}, s.occupancy.map((o) => h('tr', {},
          h('th', { scope: 'row' }, o.name),
          h('td', { class: 'num' }, o.occupancy === null ? '—' : `${Math.round(100 * o.occupancy)} %`),
          h('td', {}, h('progress', { max: 1, value: o.occupancy ?? 0, 'aria-label': o.name })))))) : null);
    }).catch((e) => clear(stats, h('h2', { id: 'host-stats' }, t('host.stats')), unavailable(e) ? notice(t('host.unavailable')) : errorNotice(e))),
    api('GET', '/api/v1/host/spaces?limit=100').then((res) => {
      clear(spaces, h('h2', { id: 'host-spaces' }, t('host.spaces')), res.data.length
        ? h('ul', { class: 'list' }, res.data.map((x) => h('li', {},
          h('p', {}, h('a', { href: `/spaces/${x.id}` }, x.name), ' ',
            h('span', { class: 'tag' }, x.archived_at ? t('host.archived') : x.published ? t('host.published') : t('host.draft'))),
          h('p', { class: 'muted' }, `${t(`kind.${x.kind}`)} · ${x.city}`))))
        : notice(t('host.none')));
    }).catch((e) => clear(spaces, h('h2', { id: 'host-spaces' }, t('host.spaces')), unavailable(e) ? notice(t('host.unavailable')) : errorNotice(e))),
  ]);
}

// ---------------------------------------------------------------------------
// the blog

async function blogPage(_, q) {
  const box = h('div', {}, loading());
  page(t('blog.title'), box);
  try {
    const tag = q.get('tag');
    const res = await api('GET', `/api/v1/posts?locale=${getLang()}${tag ? `&tag=${encodeURIComponent(tag)}` : ''}`);
    clear(box, tag ? h('p', {}, t('blog.tagged', { tag }), ' ', h('a', { href: '/blog' }, t('blog.all'))) : null, res.data.length
      ? h('ul', { class: 'list posts' }, res.data.map((p) => h('li', {},
        h('h2', {}, h('a', { href: `/blog/${encodeURIComponent(p.slug)}` }, p.title)),
        h('p', { class: 'muted' }, day(p.published_at)),
        p.excerpt ? h('p', {}, p.excerpt) : null)))
      : notice(t('blog.none')));
  } catch (e) {
    clear(box, unavailable(e) ? notice(t('blog.unavailable')) : errorNotice(e));
  }
}

async function postPage([slug]) {
  const box = h('article', {}, loading());
  page(t('blog.title'), box);
  try {
    // a former slug answers 301 to the post's path, which fetch follows: the address follows too
    const p = await api('GET', `/api/v1/posts/${encodeURIComponent(slug)}`);
    if (p.slug !== slug) history.replaceState(null, '', `/blog/${encodeURIComponent(p.slug)}`);
    document.title = `${p.title} · workon`;
    main.querySelector('h1').textContent = p.title;
    // the server's rendering of the post's Markdown (libcmark, raw HTML and unsafe URLs left out)
    const body = h('div', { class: 'post-body' });
    body.innerHTML = p.html;
    clear(box,
      h('p', { class: 'muted' }, day(p.published_at),
        p.tags.map((tag, i) => [i ? ', ' : ' · ', h('a', { href: `/blog?tag=${encodeURIComponent(tag)}` }, tag)])),
      p.cover ? h('img', { class: 'cover', src: p.cover.url, alt: '', width: 640, height: 400 }) : null,
      body);
  } catch (e) {
    clear(box, e instanceof ApiError && e.status === 404 ? notice(t('blog.missing')) : errorNotice(e));
  }
}

// ---------------------------------------------------------------------------

const routes = [
  [/^\/$/, searchPage],
  [/^\/spaces\/([^/]+)$/, spacePage],
  [/^\/bookings$/, bookingsPage],
  [/^\/bookings\/([^/]+)$/, bookingPage],
  [/^\/conversations$/, conversationsPage],
  [/^\/conversations\/([^/]+)$/, conversationPage],
  [/^\/login$/, loginPage],
  [/^\/register$/, registerPage],
  [/^\/forgot-password$/, forgotPage],
  [/^\/reset-password$/, resetPage],
  [/^\/verify-email$/, verifyPage],
  [/^\/account$/, accountPage],
  [/^\/host$/, hostPage],
  [/^\/blog$/, blogPage],
  [/^\/blog\/([^/]+)$/, postPage],
];

onSession(() => { const top = document.getElementById('top'); if (top.firstChild) clear(top, header()); });

restoreSession().then(() => {
  router(routes, (fn, params, q) => {
    // what the page before listened to (live events, the socket's state)
    for (const off of cleanup) off();
    cleanup = [];
    if (!fn) {
      page(t('notfound.title'), notice(t('notfound.text')), h('p', {}, h('a', { href: '/' }, t('back_to_search'))));
      return;
    }
    return Promise.resolve(fn(params, q)).catch((e) => page(t('err.title'), notice(errorText(e), 'error')));
  });
});
