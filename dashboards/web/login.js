/**
 * The login form, sent as JSON (the server takes nothing else, so a page on another site cannot
 * post it): on success the browser goes where the server says, otherwise the error shows.
 */
const form = document.getElementById('login');
const error = document.querySelector('.error');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const data = Object.fromEntries(new FormData(form).entries());
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const res = await fetch('/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(data),
    });
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      location.assign(body.next || '/');
      return;
    }
    error.textContent = body.error || `${res.status} ${res.statusText}`;
    error.hidden = false;
  } catch (err) {
    error.textContent = String(err.message || err);
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});
