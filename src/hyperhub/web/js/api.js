// The hub's REST API (docs/api.md): the token, JSON requests, errors, confirmed commands.

import { confirmDialog } from './dom.js';
import { errorWord, locale } from './i18n.js';

const TOKEN = 'hyperhub.token';
const SESSION = 'hyperhub.session';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The session is kept in localStorage: every tab of the browser shares it (a new tab used to
// ask to sign in again); signing out clears it for all of them.
export const session = {
  get token() { return localStorage.getItem(TOKEN); },
  get info() { return JSON.parse(localStorage.getItem(SESSION) || '{}'); },
  save(token, info = {}) {
    localStorage.setItem(TOKEN, token);
    localStorage.setItem(SESSION, JSON.stringify(info));
  },
  clear() {
    localStorage.removeItem(TOKEN);
    localStorage.removeItem(SESSION);
  },
  can(scope) {
    const scopes = this.info.scopes;
    return !scopes || scopes.includes(scope); // scopes do not imply each other
  },
  /** Call fn when another tab signs in or out. */
  onChange(fn) {
    window.addEventListener('storage', (e) => { if (e.key === TOKEN || e.key === null) fn(); });
  },
};

let unauthorized = () => {};
/** Called with the error when the hub answers 401 (the token is gone or revoked). */
export function onUnauthorized(fn) { unauthorized = fn; }

function errorOf(status, data, statusText) {
  const err = (data && typeof data === 'object' && data.error) || {};
  let message = err.message;
  if (!message && data && data.detail) {
    message = typeof data.detail === 'string' ? data.detail : JSON.stringify(data.detail);
  }
  if (!message) message = typeof data === 'string' && data ? data : `${status} ${statusText}`;
  return new ApiError(status, err.code || `http_${status}`, message);
}

/**
 * A request to `api/<path>`; resolves to the answer's JSON or throws an ApiError. `body` is
 * sent as JSON; `blob` as it is, with its own type (a recording).
 */
export async function api(path, { method = 'GET', body, blob, query } = {}) {
  const headers = { Accept: 'application/json', 'Accept-Language': locale };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (blob !== undefined) headers['Content-Type'] = blob.type || 'application/octet-stream';
  let url = `api/${path}`;
  if (query) {
    const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v != null && v !== ''));
    if ([...q].length) url += `?${q}`;
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body: blob !== undefined ? blob : body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    // the one message the hub cannot say itself: in the page's words when it has them
    const why = errorWord('network');
    throw new ApiError(0, 'network', why ? `${why}（${e.message}）` : `The hub does not answer (${e.message}).`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    const e = errorOf(res.status, data, res.statusText);
    if (res.status === 401 && !path.startsWith('auth/')) unauthorized(e);
    throw e;
  }
  return data;
}

export const post = (path, body = {}) => api(path, { method: 'POST', body });

/**
 * Send a command (set or call) to a device. If the hub answers 409 needs_confirmation,
 * ask the person with `title` and send again with confirm: true.
 * Resolves to the hub's answer, or null when the person said no.
 */
export async function command(path, body, title) {
  try {
    return await post(path, body);
  } catch (e) {
    // the code decides, not the status: a device that refused a command is a 409 too
    if (e.code !== 'needs_confirmation') throw e;
    const ok = await confirmDialog(title, e.message);
    if (!ok) return null;
    return post(path, { ...body, confirm: true });
  }
}
