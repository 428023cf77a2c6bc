// One picture: its preview, title, price and owner; the like button; buying it; and the
// download of the original for its owner and its buyers.

import { ApiError, api } from '../api.js';
import { h, money } from '../dom.js';
import { purchaseSettled, watch } from '../live.js';
import { requireSignIn, state } from '../state.js';
import { commentsSection } from './comments.js';

const WAIT_MS = 5000;
const PURCHASE_TIMEOUT_MS = 60000;

/** A fresh Idempotency-Key (getRandomValues works on plain-HTTP pages too). */
function newKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

function downloadLink(picture) {
  return h('a', { class: 'button', href: `/api/v1/pictures/${encodeURIComponent(picture.picture_id)}/original`, download: '' },
    'Download original');
}

/** GET the picture, waiting (long-poll) until `after` was applied or it is no longer processing. */
async function fetchPicture(id, { after, wait = 0, signal } = {}) {
  const query = new URLSearchParams();
  if (wait) query.set('wait_ms', wait);
  if (after) query.set('after', after);
  const { data } = await api('GET', `/api/v1/pictures/${encodeURIComponent(id)}?${query}`, { signal });
  return data;
}

function likeButton(picture) {
  const count = h('span', { class: 'count', dataset: { testid: 'like-count', likes: picture.picture_id } }, picture.like_count);
  const label = h('span', {}, picture.liked_by_me ? 'Liked' : 'Like');
  const button = h('button', { type: 'button', class: 'like', 'aria-pressed': String(picture.liked_by_me) },
    '♥ ', label, ' ', count);
  const problem = h('p', { class: 'form-error', role: 'alert' });
  button.addEventListener('click', async () => {
    if (!requireSignIn()) return;
    const liked = button.getAttribute('aria-pressed') === 'true';
    button.disabled = true;
    problem.textContent = '';
    try {
      const { data } = await api(liked ? 'DELETE' : 'PUT', `/api/v1/pictures/${encodeURIComponent(picture.picture_id)}/like`);
      const seen = await fetchPicture(picture.picture_id, { after: data.command_id, wait: WAIT_MS });
      count.textContent = seen.like_count;
      label.textContent = seen.liked_by_me ? 'Liked' : 'Like';
      button.setAttribute('aria-pressed', String(seen.liked_by_me));
    } catch (error) {
      problem.textContent = `Could not change the like: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return h('div', { class: 'like-box' }, button, problem);
}

/** Wait until a purchase completes or fails (Stripe's webhook decides, not the page): the
 * live stream tells at once; reading the purchase is the fallback when it is away. */
async function settledPurchase(purchaseId, signal) {
  const deadline = Date.now() + PURCHASE_TIMEOUT_MS;
  const stop = new AbortController();
  signal.addEventListener('abort', () => stop.abort());
  async function poll() {
    for (;;) {
      const { data } = await api('GET', `/api/v1/purchases/${encodeURIComponent(purchaseId)}?wait_ms=${WAIT_MS}`, { signal: stop.signal });
      if (['completed', 'failed', 'refunded'].includes(data.status) || Date.now() > deadline) return data;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    return await Promise.race([purchaseSettled(purchaseId, stop.signal), poll()]);
  } finally {
    stop.abort();
  }
}

function buySection(picture, downloads, signal) {
  const { payments } = state.config;
  const status = h('p', { class: 'purchase-status', role: 'status', dataset: { testid: 'purchase-status' } });
  const section = h('section', { class: 'buy', 'aria-label': 'Buy the original' });
  const methods = payments.test_payment_methods;
  const select = h('select', { id: 'payment-method', name: 'payment_method' },
    methods.map((m) => h('option', { value: m.id }, m.label)));
  const button = h('button', { type: 'button' }, picture.price_cents ? `Buy for ${money(picture.price_cents, picture.currency)}` : 'Get it free');
  let idempotencyKey = newKey();

  button.addEventListener('click', async () => {
    if (!requireSignIn()) return;
    button.disabled = true;
    status.className = 'purchase-status pending';
    status.textContent = 'Payment pending…';
    try {
      // The price on the button is the price paid, or the purchase fails (409) uncharged.
      const body = { expected_price_cents: picture.price_cents };
      if (picture.price_cents) body.payment_method = select.value;
      const { data } = await api('POST', `/api/v1/pictures/${encodeURIComponent(picture.picture_id)}/purchases`,
        { body, headers: { 'Idempotency-Key': idempotencyKey } });
      const purchase = await settledPurchase(data.purchase_id, signal);
      if (purchase.status === 'completed') {
        status.className = 'purchase-status completed';
        status.textContent = 'Purchase completed. The original is yours to download.';
        section.querySelector('.controls').remove();
        downloads.replaceChildren(downloadLink(picture));
        return;
      }
      status.className = 'purchase-status failed';
      status.textContent = purchase.status === 'failed'
        ? `Payment failed: ${purchase.failure_reason || 'the card was declined'}. You can try again.`
        : 'The payment is still pending; check “My purchases” in a moment.';
      idempotencyKey = newKey(); // a new attempt is a new purchase
    } catch (error) {
      if (signal.aborted) return;
      status.className = 'purchase-status failed';
      status.textContent = error instanceof ApiError ? error.detail : String(error);
      idempotencyKey = newKey();
    } finally {
      button.disabled = false;
    }
  });

  const controls = h('div', { class: 'controls' });
  if (picture.price_cents && methods.length) {
    controls.append(h('label', { for: 'payment-method' }, 'Pay with'), select);
  } else if (picture.price_cents) {
    controls.append(h('p', { class: 'muted' }, 'Card payments are not available on this server yet.'));
    button.disabled = true;
  }
  controls.append(button);
  section.append(controls, status);
  return section;
}

export async function renderPicture(main, { params: [id], signal }) {
  let picture;
  try {
    picture = await fetchPicture(id, { signal });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      main.append(h('h1', {}, 'Not found'), h('p', {}, 'There is no such picture, or it was deleted.'), h('a', { href: '/' }, 'Explore pictures'));
      return;
    }
    throw error;
  }
  const article = h('article', { class: 'picture' });
  main.append(article);
  watch([picture.picture_id]);
  if (picture.status === 'processing') {
    article.append(h('h1', {}, picture.title), h('p', { role: 'status' }, 'Processing… this page updates by itself.'));
    while (picture.status === 'processing' && !signal.aborted) picture = await fetchPicture(id, { wait: 10000, signal });
    article.replaceChildren();
  }
  document.title = `${picture.title} · Picasso`;
  const own = state.user && state.user.user_id === picture.owner.user_id;
  const downloads = h('div', { class: 'downloads' });
  if (own || picture.purchased_by_me) downloads.append(downloadLink(picture));

  article.append(
    h('figure', {},
      picture.preview_url
        ? h('img', { src: picture.preview_url, alt: picture.title, width: picture.width, height: picture.height })
        : null),
    h('div', { class: 'details' },
      h('h1', {}, picture.title),
      h('p', { class: 'owner' }, 'by ', h('a', { href: `/app/users/${encodeURIComponent(picture.owner.user_id)}` }, h('strong', {}, picture.owner.display_name || 'someone'))),
      h('p', { class: 'price' }, money(picture.price_cents, picture.currency)),
      picture.status !== 'published'
        ? h('p', { class: 'form-error' }, `This picture is ${picture.status}${picture.reason ? `: ${picture.reason}` : ''}.`)
        : null,
      picture.description ? h('p', { class: 'description' }, picture.description) : null,
      picture.tags.length
        ? h('ul', { class: 'tags', 'aria-label': 'Tags' }, picture.tags.map((tag) => h('li', {}, h('a', { href: `/?tag=${encodeURIComponent(tag)}` }, `#${tag}`))))
        : null,
      picture.status === 'published' ? likeButton(picture) : null,
      own ? h('p', { class: 'muted' }, 'This is your picture.') : null,
      !own && !picture.purchased_by_me && picture.status === 'published' ? buySection(picture, downloads, signal) : null,
      downloads),
    picture.status === 'published' ? commentsSection(picture, signal) : null);
}
