// The page's entry point: who is signed in, the navigation, and a small router that
// draws the view each address names without reloading the page.

import { api } from './api.js';
import { h } from './dom.js';
import { unwatchAll } from './live.js';
import { navigate, requireSignIn, signedIn, state } from './state.js';
import { renderSignIn, renderSignUp } from './views/auth.js';
import { renderFeed, renderHome, renderMyPictures, renderTrending } from './views/feed.js';
import { bell, renderNotifications } from './views/notifications.js';
import { renderPicture } from './views/picture.js';
import { renderProfile } from './views/profile.js';
import { renderPurchases, renderSales } from './views/account.js';
import { headerSearch, renderSearch } from './views/search.js';
import { renderUpload } from './views/upload.js';

const ROUTES = [
  [/^\/(app\/?)?$/, renderFeed, 'Explore'],
  [/^\/app\/home$/, renderHome, 'Home', true],
  [/^\/app\/search$/, renderSearch, 'Search'],
  [/^\/app\/trending$/, renderTrending, 'Trending'],
  [/^\/app\/notifications$/, renderNotifications, 'Notifications', true],
  [/^\/app\/login$/, renderSignIn, 'Sign in'],
  [/^\/app\/signup$/, renderSignUp, 'Create an account'],
  [/^\/app\/upload$/, renderUpload, 'Upload', true],
  [/^\/app\/pictures\/([^/]+)$/, renderPicture, 'Picture'],
  [/^\/app\/users\/([^/]+)$/, renderProfile, 'Profile'],
  [/^\/app\/mine$/, renderMyPictures, 'My pictures', true],
  [/^\/app\/purchases$/, renderPurchases, 'My purchases', true],
  [/^\/app\/sales$/, renderSales, 'My sales', true],
];

let current = null; // the AbortController of the view on screen

function drawNav() {
  const nav = document.getElementById('nav');
  const link = (href, text) => h('a', { href, 'aria-current': location.pathname === href ? 'page' : null }, text);
  const items = [link('/', 'Explore'), link('/app/trending', 'Trending'), link('/app/search', 'Search'),
    link('/app/upload', 'Upload')];
  if (state.user) {
    items.unshift(link('/app/home', 'Home'));
    items.push(link('/app/mine', 'My pictures'), link('/app/purchases', 'My purchases'),
      link('/app/sales', 'My sales'), bell(),
      h('span', { class: 'who' }, state.user.display_name || state.user.email || ''),
      h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'));
  } else {
    items.push(link('/app/login', 'Sign in'), link('/app/signup', 'Create an account'));
  }
  if (location.pathname !== '/app/search') items.unshift(headerSearch());
  nav.replaceChildren(...items);
}

async function signOut() {
  try {
    await api('DELETE', '/api/v1/session');
  } finally {
    signedIn(null);
    navigate('/');
  }
}

async function route() {
  if (current) current.abort();
  current = new AbortController();
  const { signal } = current;
  const main = document.getElementById('view');
  unwatchAll(); // the view draws what it shows, and watches it
  drawNav();
  for (const [pattern, render, title, needsUser] of ROUTES) {
    const match = location.pathname.match(pattern);
    if (!match) continue;
    document.title = `${title} · Picasso`;
    if (needsUser && !requireSignIn({ replace: true })) return;
    main.replaceChildren();
    try {
      await render(main, { params: match.slice(1), query: new URLSearchParams(location.search), signal });
    } catch (error) {
      if (signal.aborted) return;
      main.replaceChildren(h('h1', {}, 'Something went wrong'), h('p', { role: 'alert' }, error.message));
    }
    return;
  }
  document.title = 'Not found · Picasso';
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. '), h('a', { href: '/' }, 'Explore pictures'));
}

// Links within the UI change the view without a reload; others behave as usual.
document.addEventListener('click', (event) => {
  const anchor = event.target.closest('a[href]');
  if (!anchor || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey
      || event.shiftKey || event.altKey || anchor.target || anchor.hasAttribute('download')) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin || !(url.pathname === '/' || url.pathname.startsWith('/app/'))) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
  document.getElementById('view').focus();
});
window.addEventListener('popstate', route);
window.addEventListener('picasso:navigate', route);
window.addEventListener('picasso:session', drawNav);

async function boot() {
  const [session, config] = await Promise.all([
    api('GET', '/api/v1/session').then((r) => r.data).catch(() => ({ signed_in: false })),
    api('GET', '/api/v1/config').then((r) => r.data).catch(() => state.config),
  ]);
  state.config = config;
  state.user = session.signed_in ? session.user : null;
  await route();
}

boot();
