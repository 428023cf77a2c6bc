// The signed-in user's purchases (with downloads) and sales (with totals).

import { ApiError, api } from '../api.js';
import { h, money, when } from '../dom.js';

/** Titles of the pictures named in a list (a deleted one keeps its id). */
async function titles(pictureIds, signal) {
  const unique = [...new Set(pictureIds)];
  const found = await Promise.all(unique.map((id) => api('GET', `/api/v1/pictures/${encodeURIComponent(id)}`, { signal })
    .then(({ data }) => data.title)
    .catch((error) => { if (error instanceof ApiError && error.status === 404) return null; throw error; })));
  return new Map(unique.map((id, i) => [id, found[i]]));
}

function pictureLink(id, title) {
  return h('a', { href: `/app/pictures/${encodeURIComponent(id)}` }, title || `picture ${id}`);
}

function table(caption, headings, rows) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, headings.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', {}, rows)));
}

export async function renderPurchases(main, { signal }) {
  main.append(h('h1', {}, 'My purchases'));
  const { data } = await api('GET', '/api/v1/me/purchases', { signal });
  if (!data.items.length) {
    main.append(h('p', {}, 'You have not bought a picture yet. ', h('a', { href: '/' }, 'Explore pictures')));
    return;
  }
  const named = await titles(data.items.map((p) => p.picture_id), signal);
  main.append(table('Pictures you bought, newest first', ['Picture', 'Price', 'Status', 'Bought', ''],
    data.items.map((p) => h('tr', {},
      h('td', {}, pictureLink(p.picture_id, named.get(p.picture_id))),
      h('td', {}, money(p.amount_cents, p.currency)),
      h('td', {}, p.status.replace('_', ' '), p.failure_reason ? ` (${p.failure_reason})` : ''),
      h('td', {}, when(p.completed_at || p.created_at)),
      h('td', {}, p.status === 'completed'
        ? h('a', { href: `/api/v1/pictures/${encodeURIComponent(p.picture_id)}/original`, download: '' }, 'Download original')
        : '')))));
}

export async function renderSales(main, { signal }) {
  main.append(h('h1', {}, 'My sales'));
  const { data } = await api('GET', '/api/v1/me/sales', { signal });
  if (!data.items.length) {
    main.append(h('p', {}, 'Nothing sold yet. ', h('a', { href: '/app/upload' }, 'Upload a picture'), ' with a price to sell it.'));
    return;
  }
  main.append(h('section', { class: 'totals', 'aria-label': 'Totals' },
    data.totals.map((t) => h('p', { class: 'total' },
      h('strong', {}, money(t.gross_cents, t.currency)), ` from ${t.sales_count} ${t.sales_count === 1 ? 'sale' : 'sales'}`))));
  const named = await titles(data.items.map((s) => s.picture_id), signal);
  main.append(table('Completed sales, newest first', ['Picture', 'Price', 'Sold'],
    data.items.map((s) => h('tr', {},
      h('td', {}, pictureLink(s.picture_id, named.get(s.picture_id))),
      h('td', {}, money(s.amount_cents, s.currency)),
      h('td', {}, when(s.completed_at))))));
}
