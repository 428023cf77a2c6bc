// Signing in and creating an account: the edge keeps the session in HttpOnly cookies.

import { api } from '../api.js';
import { clearErrors, field, formError, h, showErrors } from '../dom.js';
import { navigate, signedIn, state } from '../state.js';

/** Where to go after signing in: the page that asked for it, if it is one of ours. */
function nextPath(query) {
  const next = query.get('next') || '/';
  return next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

function accountForm({ heading, submit, path, fields, other }) {
  return async (main, { query }) => {
    if (state.user) {
      navigate(nextPath(query), { replace: true });
      return;
    }
    const form = h('form', { novalidate: true, class: 'card narrow' },
      h('h1', {}, heading),
      formError(),
      ...fields(),
      h('button', { type: 'submit' }, submit),
      h('p', {}, other.text, ' ', h('a', { href: `${other.href}?${query}` }, other.link)));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const body = Object.fromEntries(new FormData(form));
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        const { data } = await api('POST', path, { body });
        signedIn(data.user);
        navigate(nextPath(query), { replace: true });
      } catch (error) {
        showErrors(form, error);
      } finally {
        button.disabled = false;
      }
    });
    main.append(form);
    form.querySelector('input').focus();
  };
}

const email = () => field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true }));

export const renderSignIn = accountForm({
  heading: 'Sign in',
  submit: 'Sign in',
  path: '/api/v1/session',
  fields: () => [
    email(),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
  ],
  other: { text: 'New to Picasso?', href: '/app/signup', link: 'Create an account' },
});

export const renderSignUp = accountForm({
  heading: 'Create an account',
  submit: 'Create account',
  path: '/api/v1/session/register',
  fields: () => [
    field('Name shown to others', h('input', { name: 'display_name', autocomplete: 'nickname', required: true, maxlength: 80 })),
    email(),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }),
      'At least 8 characters.'),
  ],
  other: { text: 'Have an account?', href: '/app/login', link: 'Sign in' },
});
