// Uploading a picture: a local preview of the chosen file, the upload's progress, then
// processing → published shown as it happens (the picture is read with wait_ms).

import { postForm, api } from '../api.js';
import { clearErrors, field, formError, h, showErrors } from '../dom.js';
import { state } from '../state.js';

const TYPES = ['image/jpeg', 'image/png', 'image/webp'];

/** "12.50" → 1250; NaN when it is not an amount. */
function cents(text) {
  const trimmed = text.trim();
  if (trimmed === '') return 0;
  if (!/^\d+([.,]\d{1,2})?$/.test(trimmed)) return NaN;
  return Math.round(Number(trimmed.replace(',', '.')) * 100);
}

export function renderUpload(main, { signal }) {
  const limit = state.config.max_upload_bytes;
  const file = h('input', { name: 'file', type: 'file', accept: TYPES.join(','), required: true });
  const preview = h('img', { class: 'preview', alt: 'Preview of the chosen picture', hidden: true });
  const progress = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const status = h('p', { role: 'status', class: 'upload-status', dataset: { testid: 'upload-status' } });
  const submit = h('button', { type: 'submit' }, 'Upload');
  const form = h('form', { novalidate: true, class: 'card' },
    h('h1', {}, 'Upload a picture'),
    formError(),
    field('Picture (JPEG, PNG or WebP)', file, limit ? `Up to ${Math.floor(limit / 1048576)} MB.` : null),
    preview,
    field('Title', h('input', { name: 'title', required: true, maxlength: state.config.limits.title_max })),
    field('Description', h('textarea', { name: 'description', rows: 3, maxlength: state.config.limits.description_max }), 'Optional.'),
    field('Price in US dollars', h('input', { name: 'price', inputmode: 'decimal', value: '0' }), '0 for free, or at least 0.50.'),
    field('Tags', h('input', { name: 'tags' }), 'Optional, separated by commas: sunset, beach'),
    submit, progress, status);

  let previewUrl = null;
  file.addEventListener('change', () => {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    const chosen = file.files[0];
    preview.hidden = !chosen;
    if (chosen) {
      previewUrl = URL.createObjectURL(chosen);
      preview.src = previewUrl;
    }
  });
  signal.addEventListener('abort', () => previewUrl && URL.revokeObjectURL(previewUrl));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const chosen = file.files[0];
    const price = cents(form.elements.price.value);
    const errors = {};
    if (!chosen) errors.file = 'choose a picture to upload';
    else if (!TYPES.includes(chosen.type)) errors.file = 'a JPEG, PNG or WebP picture';
    else if (limit && chosen.size > limit) errors.file = `at most ${Math.floor(limit / 1048576)} MB`;
    if (Number.isNaN(price)) errors.price = 'an amount such as 5 or 12.50';
    if (Object.keys(errors).length) {
      showErrors(form, { errors, detail: '' });
      return;
    }
    const body = new FormData();
    body.append('title', form.elements.title.value);
    body.append('description', form.elements.description.value);
    body.append('price_cents', String(price));
    body.append('tags', form.elements.tags.value);
    body.append('file', chosen);

    submit.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    status.textContent = 'Uploading…';
    let accepted;
    try {
      accepted = (await postForm('/api/v1/pictures', body, (sent) => {
        progress.value = Math.round(sent * 100);
        status.textContent = `Uploading… ${progress.value}%`;
      })).data;
    } catch (error) {
      progress.hidden = true;
      status.textContent = '';
      submit.disabled = false;
      if (error.status === 413 || error.status === 415) error.errors = { file: error.detail };
      showErrors(form, error, { price_cents: 'price' });
      return;
    }
    progress.value = 100;
    status.textContent = 'Processing… (making the preview and removing location data)';
    await followProcessing(accepted.picture_id, status, signal);
  });
  main.append(form);
}

async function followProcessing(pictureId, status, signal) {
  const path = `/api/v1/pictures/${encodeURIComponent(pictureId)}?wait_ms=10000`;
  let picture = { status: 'processing' };
  while (picture.status === 'processing' && !signal.aborted) {
    try {
      picture = (await api('GET', path, { signal })).data;
    } catch (error) {
      if (signal.aborted) return;
      status.textContent = `Could not follow the upload: ${error.message}`;
      return;
    }
  }
  const link = h('a', { href: `/app/pictures/${encodeURIComponent(pictureId)}` }, picture.title);
  if (picture.status === 'published') {
    status.replaceChildren('Published: ', link, '. ', h('a', { href: '/app/upload' }, 'Upload another'));
  } else {
    status.replaceChildren(`Not published (${picture.status}): ${picture.reason || 'the picture was refused'}.`);
  }
}
