// Live updates: one EventSource on /api/v1/live for the pictures on screen and the signed-in
// person. Counts change in place (elements marked data-likes / data-comments with the
// picture's id), the bell counts up, and views hear of purchases and new timeline pictures
// through window events ('picasso:live-purchase', 'picasso:live-timeline').

import { state } from './state.js';

// As many pictures as one stream may watch (web.live.PICTURES_MAX): the latest shown win.
const PICTURES_MAX = 100;
const RETRY_AFTER_REFUSAL_MS = 15000;

let watched = new Set();
let source = null;
let opened = ''; // what the open stream watches, as a key
let lastId = ''; // the last message's id: a new stream resumes from it
let timer = null;
const settled = new Map(); // purchase id -> its last status, as the stream told it

function key() {
  return `${[...watched].join(',')}|${state.user ? state.user.user_id : ''}`;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(connect, 30);
}

/** Watch these pictures too (a view shows them). */
export function watch(pictureIds) {
  for (const id of pictureIds) {
    watched.delete(id);
    watched.add(id);
  }
  while (watched.size > PICTURES_MAX) watched.delete(watched.values().next().value);
  schedule();
}

/** A new view: forget the pictures of the last one. */
export function unwatchAll() {
  watched = new Set();
  schedule();
}

function each(selector, change) {
  document.querySelectorAll(selector).forEach(change);
}

function on(name, handle) {
  source.addEventListener(name, (event) => {
    lastId = event.lastEventId || lastId;
    handle(JSON.parse(event.data));
  });
}

function connect(force = false) {
  const wanted = key();
  if (!force && wanted === opened && source) return;
  if (source) source.close();
  source = null;
  opened = wanted;
  if (!watched.size && !state.user) return;
  const query = new URLSearchParams({ pictures: [...watched].join(',') });
  if (lastId) query.set('last_event_id', lastId);
  source = new EventSource(`/api/v1/live?${query}`);
  const mine = source;
  on('ready', () => {});
  on('likes', ({ picture_id: id, like_count: n }) => each(`[data-likes="${CSS.escape(id)}"]`, (el) => {
    el.textContent = n;
    if (el.parentElement && el.parentElement.classList.contains('likes')) el.parentElement.setAttribute('aria-label', `${n} likes`);
  }));
  on('comments', ({ picture_id: id, comment_count: n }) => each(`[data-comments="${CSS.escape(id)}"]`, (el) => { el.textContent = n; }));
  on('notifications', ({ unread }) => each('[data-testid="unread-count"]', (el) => { el.textContent = unread; }));
  on('purchase', (purchase) => {
    settled.set(purchase.purchase_id, purchase);
    window.dispatchEvent(new CustomEvent('picasso:live-purchase', { detail: purchase }));
  });
  on('timeline', (picture) => window.dispatchEvent(new CustomEvent('picasso:live-timeline', { detail: picture })));
  // What was missed cannot be replayed (another edge, or too long away): draw the view again.
  on('reset', () => {
    lastId = '';
    window.dispatchEvent(new Event('picasso:navigate'));
  });
  source.addEventListener('error', () => {
    // The browser reconnects by itself (with Last-Event-ID) unless the edge refused the
    // stream (a limit): then try again later.
    if (mine.readyState === EventSource.CLOSED && source === mine) {
      setTimeout(() => { if (source === mine) connect(true); }, RETRY_AFTER_REFUSAL_MS);
    }
  });
}

/** The purchase once the stream says it completed, failed or was refunded. */
export function purchaseSettled(purchaseId, signal) {
  const done = (p) => p && ['completed', 'failed', 'refunded'].includes(p.status);
  return new Promise((resolve) => {
    if (done(settled.get(purchaseId))) {
      resolve(settled.get(purchaseId));
      return;
    }
    const listen = ({ detail }) => {
      if (detail.purchase_id !== purchaseId || !done(detail)) return;
      window.removeEventListener('picasso:live-purchase', listen);
      resolve(detail);
    };
    window.addEventListener('picasso:live-purchase', listen);
    signal.addEventListener('abort', () => window.removeEventListener('picasso:live-purchase', listen));
  });
}

window.addEventListener('picasso:session', schedule);
