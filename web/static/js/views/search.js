// Search: pictures by their words (title, description, tags, owner's name) with filters,
// or people by name. Results follow the words as they are typed (a short pause first),
// and the address keeps the query, so a search can be shared or reloaded.

import { api } from '../api.js';
import { field, h } from '../dom.js';
import { navigate } from '../state.js';
import { pictureGrid } from './feed.js';

const PAUSE_MS = 250;
const FILTERS = ['type', 'tag', 'min_price_cents', 'max_price_cents', 'free'];

function searchForm(query) {
  const q = h('input', { type: 'search', name: 'q', value: query.get('q') || '', maxlength: 100, autocomplete: 'off', required: true });
  const type = h('select', { name: 'type' },
    h('option', { value: 'pictures' }, 'Pictures'),
    h('option', { value: 'people' }, 'People'));
  type.value = query.get('type') === 'people' ? 'people' : 'pictures';
  const tag = h('input', { type: 'text', name: 'tag', value: query.get('tag') || '', maxlength: 32 });
  const low = h('input', { type: 'number', name: 'min_price_cents', min: 0, step: 1, value: query.get('min_price_cents') || '' });
  const high = h('input', { type: 'number', name: 'max_price_cents', min: 0, step: 1, value: query.get('max_price_cents') || '' });
  const free = h('input', { type: 'checkbox', name: 'free', value: 'true', checked: query.get('free') === 'true' });
  return h('form', { class: 'search', role: 'search', 'aria-label': 'Search' },
    field('Search for', q, 'Words of a title, description, tag or name; the last word can be the start of one.'),
    field('Look for', type),
    h('fieldset', { class: 'filters' }, h('legend', {}, 'Pictures only'),
      field('Tag', tag),
      field('Lowest price (cents)', low),
      field('Highest price (cents)', high),
      h('div', { class: 'field check' }, h('label', {}, free, ' Free only'))),
    h('button', { type: 'submit' }, 'Search'));
}

/** The search's address (in the page and in the API) from the form's fields. */
function addressOf(form) {
  const params = new URLSearchParams();
  const data = new FormData(form);
  const q = (data.get('q') || '').trim();
  if (q) params.set('q', q);
  for (const name of FILTERS) {
    const value = (data.get(name) || '').toString().trim();
    if (value && !(name === 'type' && value === 'pictures')) params.set(name, value);
  }
  return params;
}

async function peopleList(main, { params, signal }) {
  const list = h('ul', { class: 'people', 'aria-label': 'People found' });
  const status = h('p', { class: 'muted', role: 'status' });
  main.append(h('h2', {}, 'People'), list, status);
  try {
    const { data } = await api('GET', `/api/v1/search?${params}&limit=50`, { signal });
    list.append(...data.items.map((person) => h('li', {},
      h('a', { href: `/app/users/${encodeURIComponent(person.user_id)}` }, person.display_name || person.user_id))));
    status.textContent = data.items.length ? '' : 'Nobody by that name.';
  } catch (error) {
    if (!signal.aborted) status.textContent = `Could not search: ${error.message}`;
  }
}

export async function renderSearch(main, { query, signal }) {
  const form = searchForm(query);
  const results = h('section', { 'aria-live': 'polite', class: 'results' });
  main.append(h('h1', {}, 'Search'), form, results);
  let running = null; // the AbortController of the results on screen

  async function show(params) {
    if (running) running.abort();
    running = new AbortController();
    signal.addEventListener('abort', () => running.abort());
    // Each search draws into a box of its own: whatever an earlier one still does (a page
    // it was loading) lands in its own box, no longer on the page.
    const box = h('div');
    results.replaceChildren(box);
    if (!params.get('q')) {
      box.append(h('p', { class: 'muted' }, 'Type a word to search.'));
      return;
    }
    if (params.get('type') === 'people') {
      await peopleList(box, { params, signal: running.signal });
    } else {
      await pictureGrid(box, {
        heading: `Pictures for “${params.get('q')}”`,
        address: `/api/v1/search?${params}`,
        empty: 'No pictures match.',
        signal: running.signal,
      });
    }
  }

  let timer = null;
  function update() {
    const params = addressOf(form);
    history.replaceState(null, '', `/app/search${params.size ? `?${params}` : ''}`);
    return show(params);
  }
  form.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(update, PAUSE_MS);
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(timer);
    update();
  });
  signal.addEventListener('abort', () => clearTimeout(timer));
  form.elements.namedItem('q').focus();
  await show(addressOf(form));
}

/** The header's search box: goes to the Search view with the words typed. */
export function headerSearch() {
  const q = h('input', { type: 'search', name: 'q', maxlength: 100, placeholder: 'Search', 'aria-label': 'Search pictures' });
  return h('form', { class: 'header-search', role: 'search', onsubmit: (event) => {
    event.preventDefault();
    const words = q.value.trim();
    navigate(words ? `/app/search?q=${encodeURIComponent(words)}` : '/app/search');
  } }, q, h('button', { type: 'submit', class: 'secondary' }, 'Search'));
}
