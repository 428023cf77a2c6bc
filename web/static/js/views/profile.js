// A person's page: name, bio, avatar, when they joined, their counts, a follow button (for
// others, signed in), and their pictures.

import { ApiError, api } from '../api.js';
import { h } from '../dom.js';
import { requireSignIn, state } from '../state.js';
import { pictureGrid } from './feed.js';

const WAIT_MS = 5000;

function profilePath(id, query = '') {
  return `/api/v1/users/${encodeURIComponent(id)}${query}`;
}

function followButton(profile, counts) {
  const button = h('button', { type: 'button', 'aria-pressed': String(profile.followed_by_me) },
    profile.followed_by_me ? 'Following' : 'Follow');
  const problem = h('p', { class: 'form-error', role: 'alert' });
  button.addEventListener('click', async () => {
    if (!requireSignIn()) return;
    const following = button.getAttribute('aria-pressed') === 'true';
    button.disabled = true;
    problem.textContent = '';
    try {
      const { data } = await api(following ? 'DELETE' : 'PUT', profilePath(profile.user_id, '/follow'));
      // The profile again once the social service has applied (and counted) the change.
      const seen = await api('GET', profilePath(profile.user_id,
        `?after=${encodeURIComponent(data.command_id)}&wait_ms=${WAIT_MS}`));
      button.setAttribute('aria-pressed', String(seen.data.followed_by_me));
      button.textContent = seen.data.followed_by_me ? 'Following' : 'Follow';
      counts.followers.textContent = seen.data.followers_count;
    } catch (error) {
      problem.textContent = `Could not change the follow: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return h('div', { class: 'follow-box' }, button, problem);
}

export async function renderProfile(main, { params: [id], signal }) {
  let profile;
  try {
    ({ data: profile } = await api('GET', profilePath(id), { signal }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      main.append(h('h1', {}, 'Not found'), h('p', {}, 'There is no such person.'));
      return;
    }
    throw error;
  }
  document.title = `${profile.display_name || 'Someone'} · Picasso`;
  const counts = {
    pictures: h('strong', { dataset: { testid: 'pictures-count' } }, profile.pictures_count),
    followers: h('strong', { dataset: { testid: 'followers-count' } }, profile.followers_count),
    following: h('strong', { dataset: { testid: 'following-count' } }, profile.following_count),
  };
  const self = state.user && state.user.user_id === profile.user_id;
  const joined = profile.joined_at ? new Date(profile.joined_at).toLocaleDateString() : null;
  main.append(h('header', { class: 'profile' },
    profile.avatar_url ? h('img', { class: 'avatar', src: profile.avatar_url, alt: '', width: 96, height: 96 }) : null,
    h('div', {},
      h('p', { class: 'muted' }, joined ? `Joined ${joined}` : ''),
      h('p', { class: 'bio' }, profile.bio || ''),
      h('p', { class: 'counts' }, counts.pictures, ' pictures · ', counts.followers, ' followers · ',
        counts.following, ' following'),
      self ? h('p', { class: 'muted' }, 'This is you.') : followButton(profile, counts))));
  // The grid brings the heading: the person's name.
  const grid = h('div', {});
  main.append(grid);
  await pictureGrid(grid, {
    heading: profile.display_name || 'Someone',
    address: profilePath(profile.user_id, '/pictures'),
    empty: 'No pictures yet.',
    signal,
  });
}
