// The explore feed (newest first) and "my pictures": pages of cards that load more as the
// visitor scrolls, or with the "Load more" button.

import { api } from '../api.js';
import { h, money } from '../dom.js';
import { watch } from '../live.js';
import { state } from '../state.js';

const PAGE = 12;

export function pictureCard(picture) {
  return h('li', { class: 'picture-card' },
    h('a', { href: `/app/pictures/${encodeURIComponent(picture.picture_id)}` },
      h('img', { src: picture.thumbnail_url, alt: picture.title, loading: 'lazy', width: 320, height: 240 }),
      h('span', { class: 'title' }, picture.title)),
    h('span', { class: 'meta' },
      h('span', { class: 'price' }, money(picture.price_cents, picture.currency)),
      h('span', { class: 'likes', 'aria-label': `${picture.like_count} likes` }, '♥ ', h('span', { dataset: { likes: picture.picture_id } }, picture.like_count)),
      h('a', { class: 'owner', href: `/app/users/${encodeURIComponent(picture.owner.user_id)}` }, picture.owner.display_name || '')));
}

/** A grid of pictures from a feed address, a page at a time. */
export async function pictureGrid(main, { heading, address, empty, signal, controls = [] }) {
  const list = h('ul', { class: 'grid', 'aria-label': heading });
  const status = h('p', { class: 'muted', role: 'status' });
  const more = h('button', { type: 'button', class: 'secondary' }, 'Load more');
  main.append(h('h1', {}, heading), ...controls, list, status, more);
  let cursor = null;
  let loading = false;
  let done = false;

  async function load() {
    if (loading || done) return;
    loading = true;
    more.disabled = true;
    status.textContent = 'Loading…';
    const url = new URL(address, location.origin);
    url.searchParams.set('limit', PAGE);
    if (cursor) url.searchParams.set('cursor', cursor);
    try {
      const { data } = await api('GET', url.pathname + url.search, { signal });
      if (signal.aborted) return;
      list.append(...data.items.map(pictureCard));
      watch(data.items.map((p) => p.picture_id));
      cursor = data.next_cursor;
      done = !cursor;
      status.textContent = list.children.length ? (done ? 'That is everything.' : '') : empty;
    } catch (error) {
      if (signal.aborted) return;
      status.textContent = `Could not load pictures: ${error.message}`;
    } finally {
      loading = false;
      more.disabled = false;
      more.hidden = done;
    }
  }

  more.addEventListener('click', load);
  // Load the next page as the button scrolls into view.
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) load();
  }, { rootMargin: '400px' });
  observer.observe(more);
  signal.addEventListener('abort', () => observer.disconnect());
  await load();
}

export function renderFeed(main, { query, signal }) {
  const tag = query.get('tag');
  const address = tag ? `/api/v1/pictures?tag=${encodeURIComponent(tag)}` : '/api/v1/pictures';
  return pictureGrid(main, {
    heading: tag ? `Pictures tagged “${tag}”` : 'Explore',
    address,
    empty: 'No pictures yet. Be the first to upload one!',
    signal,
  });
}

export function renderMyPictures(main, { signal }) {
  return pictureGrid(main, {
    heading: 'My pictures',
    address: `/api/v1/users/${encodeURIComponent(state.user.user_id)}/pictures`,
    empty: 'You have not published a picture yet.',
    signal,
  });
}

export function renderHome(main, { signal }) {
  // New pictures of the people followed, told by the live stream: a button shows them.
  let fresh = 0;
  const news = h('button', { type: 'button', class: 'secondary', hidden: true, dataset: { testid: 'timeline-news' } });
  news.addEventListener('click', () => window.dispatchEvent(new Event('picasso:navigate')));
  const told = () => {
    fresh += 1;
    news.textContent = `${fresh} new picture${fresh > 1 ? 's' : ''}: show`;
    news.hidden = false;
  };
  window.addEventListener('picasso:live-timeline', told);
  signal.addEventListener('abort', () => window.removeEventListener('picasso:live-timeline', told));
  main.append(news);
  return pictureGrid(main, {
    heading: 'Home',
    address: '/api/v1/me/timeline',
    empty: 'Nothing here yet: follow people (from their pictures) and their new pictures show up here.',
    signal,
  });
}

// Trending: the pictures with the most recent likes, comments and purchases, over the last
// hour or the last day (the day unless the address says otherwise).
export function renderTrending(main, { query, signal }) {
  const window = query.get('window') === 'hour' ? 'hour' : 'day';
  const tab = (name, text) => h('a', {
    href: `/app/trending?window=${name}`, 'aria-current': name === window ? 'page' : null,
  }, text);
  return pictureGrid(main, {
    heading: 'Trending',
    address: `/api/v1/pictures?sort=trending&window=${window}`,
    empty: 'Nothing is trending yet: like, comment on or buy a picture.',
    signal,
    controls: [h('nav', { class: 'tabs', 'aria-label': 'Trending over' },
      tab('hour', 'Last hour'), tab('day', 'Last day'))],
  });
}
