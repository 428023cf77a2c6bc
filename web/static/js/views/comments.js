// The comments under a picture: the list (oldest first, more on demand), a form to add one,
// and a delete button on one's own comments and on every comment of one's own picture.
// Comments are plain text: they are only ever put into the page with textContent.

import { ApiError, api } from '../api.js';
import { h } from '../dom.js';
import { requireSignIn, state } from '../state.js';

const WAIT_MS = 5000;
const PAGE = 50;

function path(picture, rest = '') {
  return `/api/v1/pictures/${encodeURIComponent(picture.picture_id)}/comments${rest}`;
}

export function commentsSection(picture, signal) {
  const list = h('ol', { class: 'comments', dataset: { testid: 'comments' } });
  const count = h('span', { dataset: { testid: 'comment-count', comments: picture.picture_id } }, picture.comment_count ?? 0);
  const more = h('button', { type: 'button', class: 'link', hidden: true }, 'Older comments');
  const problem = h('p', { class: 'form-error', role: 'alert' });
  const ownPicture = state.user && state.user.user_id === picture.owner.user_id;
  let cursor = null;

  function item(comment) {
    const mine = state.user && state.user.user_id === comment.author.user_id;
    const remove = (mine || ownPicture)
      ? h('button', { type: 'button', class: 'link delete', 'aria-label': 'Delete this comment' }, 'Delete')
      : null;
    const li = h('li', { dataset: { commentId: comment.comment_id } },
      h('strong', {}, comment.author.display_name || 'someone'), ' ',
      h('span', { class: 'text' }, comment.text), ' ', remove);
    if (remove) {
      remove.addEventListener('click', async () => {
        remove.disabled = true;
        try {
          const { data } = await api('DELETE', path(picture, `/${encodeURIComponent(comment.comment_id)}`));
          await api('GET', path(picture, `?limit=1&after=${encodeURIComponent(data.command_id)}&wait_ms=${WAIT_MS}`), { signal });
          li.remove();
          await recount();
        } catch (error) {
          problem.textContent = `Could not delete the comment: ${error.message}`;
          remove.disabled = false;
        }
      });
    }
    return li;
  }

  // The count as the read model has it (the live stream may have told it already: counting
  // up or down here would count that change twice).
  async function recount() {
    const { data } = await api('GET', `/api/v1/pictures/${encodeURIComponent(picture.picture_id)}`, { signal });
    count.textContent = data.comment_count ?? count.textContent;
  }

  async function load() {
    const query = new URLSearchParams({ limit: PAGE });
    if (cursor) query.set('cursor', cursor);
    const { data } = await api('GET', path(picture, `?${query}`), { signal });
    list.append(...data.items.map(item));
    cursor = data.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener('click', () => load().catch((error) => { problem.textContent = error.message; }));

  const text = h('textarea', { name: 'text', rows: 2, required: true, 'aria-label': 'Your comment',
    maxlength: state.config.limits.comment_max });
  const send = h('button', { type: 'submit' }, 'Comment');
  const form = h('form', { class: 'comment-form' }, text, send);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!requireSignIn()) return;
    send.disabled = true;
    problem.textContent = '';
    try {
      const { data } = await api('POST', path(picture), { body: { text: text.value } });
      // Read the list again once the comments service has applied it: the new one is last.
      const seen = await api('GET', path(picture, `?limit=100&after=${encodeURIComponent(data.command_id)}&wait_ms=${WAIT_MS}`), { signal });
      const added = seen.data.items.find((c) => c.comment_id === data.comment_id);
      if (added && !list.querySelector(`[data-comment-id="${CSS.escape(added.comment_id)}"]`)) list.append(item(added));
      text.value = '';
      await recount();
    } catch (error) {
      problem.textContent = error instanceof ApiError && error.errors.text ? error.errors.text : `Could not comment: ${error.message}`;
    } finally {
      send.disabled = false;
    }
  });

  load().catch((error) => { if (!signal.aborted) problem.textContent = error.message; });
  return h('section', { class: 'comments-box', 'aria-label': 'Comments' },
    h('h2', {}, 'Comments (', count, ')'), list, more, state.user ? form : h('p', { class: 'muted' }, 'Sign in to comment.'), problem);
}
