// Calls to Picasso's HTTP API from the page: same origin, the session cookies sent by the
// browser, and the CSRF token (readable cookie) echoed on every write.

const CSRF_COOKIE = 'picasso_csrf';
const SAFE = new Set(['GET', 'HEAD']);

/** An answer that was not 2xx: the API's problem details (detail, errors per field). */
export class ApiError extends Error {
  constructor(status, problem) {
    const detail = (problem && problem.detail) || `the server answered ${status}`;
    super(detail);
    this.status = status;
    this.detail = detail;
    this.errors = (problem && problem.errors) || {};
  }
}

export function csrfToken() {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join('='));
  }
  return '';
}

function parse(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** fetch() for the API: JSON in and out; throws ApiError for problems. */
export async function api(method, path, { body, headers = {}, signal } = {}) {
  const init = { method, credentials: 'same-origin', signal, headers: { Accept: 'application/json', ...headers } };
  if (!SAFE.has(method)) init.headers['X-CSRF-Token'] = csrfToken();
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(path, init);
  const data = parse(await answer.text());
  if (!answer.ok) throw new ApiError(answer.status, data);
  return { status: answer.status, data, headers: answer.headers };
}

/**
 * POST a multipart form with XMLHttpRequest, whose upload events report progress
 * (fetch() has none). onProgress gets the fraction sent, 0 to 1.
 */
export function postForm(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRF-Token', csrfToken());
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      const data = parse(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) resolve({ status: xhr.status, data });
      else reject(new ApiError(xhr.status, data));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, { detail: 'the upload failed: no connection to Picasso' })));
    xhr.send(form);
  });
}
