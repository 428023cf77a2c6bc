// Small helpers to build the page and to show what went wrong next to the right field.

/** h('a', {href: '/'}, 'Home'): an element with attributes and children (text is escaped). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function money(cents, currency) {
  if (!cents) return 'Free';
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() })
    .format(cents / 100);
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** A labelled form field; its error message goes in the element after the control. */
export function field(label, control, hint) {
  const name = control.getAttribute('name');
  control.id = control.id || `field-${name}`;
  const error = h('p', { class: 'field-error', id: `${control.id}-error`, dataset: { errorFor: name } });
  const described = [hint ? `${control.id}-hint` : null, error.id].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', described);
  return h('div', { class: 'field' },
    h('label', { for: control.id }, label),
    control,
    hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, hint) : null,
    error);
}

export function clearErrors(form) {
  form.querySelectorAll('.field-error, .form-error').forEach((node) => { node.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((node) => node.removeAttribute('aria-invalid'));
}

/**
 * Show an API error: each entry of problem.errors next to its field (the first one
 * focused), the rest in the form's general message. aliases maps API field names to the
 * form's (e.g. price_cents is typed in as a price).
 */
export function showErrors(form, error, aliases = {}) {
  clearErrors(form);
  let first = null;
  const unplaced = [];
  for (const [apiName, message] of Object.entries(error.errors || {})) {
    const name = aliases[apiName] || apiName;
    const slot = form.querySelector(`[data-error-for="${name}"]`);
    const control = form.elements.namedItem(name);
    if (!slot) {
      unplaced.push(`${apiName}: ${message}`);
      continue;
    }
    slot.textContent = message;
    if (control && control.setAttribute) {
      control.setAttribute('aria-invalid', 'true');
      first = first || control;
    }
  }
  const general = form.querySelector('.form-error');
  const hasFieldErrors = Object.keys(error.errors || {}).length > unplaced.length;
  general.textContent = unplaced.length ? unplaced.join('; ') : (hasFieldErrors ? 'Please correct the marked fields.' : error.detail);
  (first || general).focus();
}

export function formError() {
  return h('p', { class: 'form-error', role: 'alert', tabindex: '-1' });
}
