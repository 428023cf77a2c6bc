// What every view shares: who is signed in, the edge's settings, and moving between views.

export const state = {
  user: null,
  config: { max_upload_bytes: 0, limits: {}, payments: { test_mode: false, test_payment_methods: [] } },
};

/** Show another view (app.js draws it on the 'picasso:navigate' event). */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  window.dispatchEvent(new Event('picasso:navigate'));
}

export function signedIn(user) {
  state.user = user;
  window.dispatchEvent(new Event('picasso:session'));
}

/** Send a visitor who is not signed in to the sign-in page, then back here. */
export function requireSignIn({ next = location.pathname + location.search, replace = false } = {}) {
  if (state.user) return true;
  navigate(`/app/login?next=${encodeURIComponent(next)}`, { replace });
  return false;
}
