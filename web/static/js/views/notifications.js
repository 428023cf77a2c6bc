// The bell in the navigation (unread notifications) and the list of notifications, newest
// activity first, with "Mark all read". Every name and text goes in with textContent.

import { api } from '../api.js';
import { h } from '../dom.js';
import { state } from '../state.js';

const WAIT_MS = 5000;
const PAGE = 30;

/** The bell: a link to the list with the unread count, refreshed on every view. */
export function bell() {
  const count = h('span', { class: 'badge', dataset: { testid: 'unread-count' } }, '0');
  const link = h('a', { href: '/app/notifications', class: 'bell', 'aria-label': 'Notifications' }, '🔔 ', count);
  if (state.user) {
    api('GET', '/api/v1/me/notifications/unread_count')
      .then(({ data }) => { count.textContent = data.unread; })
      .catch(() => {});
  }
  return link;
}

function names(n) {
  const shown = n.actors.map((a) => a.display_name || 'someone');
  const others = n.count - shown.length;
  if (others > 0) return `${shown.join(', ')} and ${others} other${others > 1 ? 's' : ''}`;
  return shown.length > 1 ? `${shown.slice(0, -1).join(', ')} and ${shown.at(-1)}` : (shown[0] || 'Someone');
}

function sentence(n) {
  const title = n.picture ? `“${n.picture.title || 'a picture'}”` : 'a picture';
  switch (n.kind) {
    case 'followed': return `${names(n)} followed you`;
    case 'liked': return `${names(n)} liked ${title}`;
    case 'commented': return `${names(n)} commented on ${title}: ${n.text || ''}`;
    case 'sold': return `${names(n)} bought ${title}`;
    case 'purchase_completed': return `Your purchase of ${title} is complete`;
    case 'purchase_failed': return `Your purchase of ${title} failed${n.reason ? `: ${n.reason}` : ''}`;
    case 'picture_published': return `${title} is published`;
    case 'picture_rejected': return `${title} was rejected${n.reason ? `: ${n.reason}` : ''}`;
    default: return n.kind;
  }
}

function item(n) {
  const text = h('span', {}, sentence(n));
  const body = n.picture ? h('a', { href: `/app/pictures/${encodeURIComponent(n.picture.picture_id)}` }, text) : text;
  return h('li', { class: n.read ? 'read' : 'unread' }, body, ' ',
    h('time', { class: 'muted', datetime: n.at }, new Date(n.at).toLocaleString()));
}

export async function renderNotifications(main, { signal }) {
  const list = h('ol', { class: 'notifications', 'aria-label': 'Notifications' });
  const status = h('p', { class: 'muted', role: 'status' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Older');
  const readAll = h('button', { type: 'button' }, 'Mark all read');
  let cursor = null;

  async function load(replace = false) {
    const query = new URLSearchParams({ limit: PAGE });
    if (cursor && !replace) query.set('cursor', cursor);
    const { data } = await api('GET', `/api/v1/me/notifications?${query}`, { signal });
    if (replace) list.replaceChildren();
    list.append(...data.items.map(item));
    cursor = data.next_cursor;
    more.hidden = !cursor;
    status.textContent = list.children.length ? '' : 'Nothing yet.';
  }
  more.addEventListener('click', () => load());
  readAll.addEventListener('click', async () => {
    readAll.disabled = true;
    try {
      const { data } = await api('POST', '/api/v1/me/notifications/read', { body: { all: true } });
      const { data: unread } = await api('GET',
        `/api/v1/me/notifications/unread_count?after=${encodeURIComponent(data.command_id)}&wait_ms=${WAIT_MS}`, { signal });
      document.querySelectorAll('[data-testid="unread-count"]').forEach((b) => { b.textContent = unread.unread; });
      cursor = null;
      await load(true);
    } catch (error) {
      status.textContent = `Could not mark them read: ${error.message}`;
    } finally {
      readAll.disabled = false;
    }
  });
  main.append(h('h1', {}, 'Notifications'), readAll, list, status, more);
  await load();
}
