// Viva dashboard, full mode: API keys (list, create, rotate, revoke) through /api/v1/keys with the
// logged-in admin token. Shown only when /admin/stats says "platform": true (dashboard.js sends
// the stats as a 'viva:stats' event). A new or rotated secret is shown once and never stored.
(function () {
  'use strict';
  const TOKEN_KEY = 'viva.adminToken';
  const PAGE = 20;
  const $ = (id) => document.getElementById(id);
  let enabled = false;
  let offset = 0;
  let nextOffset = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? '' : String(c)));
    return e;
  }

  // Unlike dashboard.js's helper, a 403 here (a viewer trying to change a key) is shown, not a logout.
  async function call(method, path, body) {
    const headers = { Authorization: 'Bearer ' + sessionStorage.getItem(TOKEN_KEY), Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let json = null;
    try { json = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) throw new Error((json && json.message) || ('HTTP ' + res.status));
    return json;
  }

  function error(message) {
    $('keys-error').textContent = message || '';
  }

  function showSecret(title, key) {
    $('key-secret-title').textContent = title;
    $('key-secret-value').textContent = key;
    $('key-secret').hidden = false;
  }

  function hideSecret() {
    $('key-secret-value').textContent = '';
    $('key-secret').hidden = true;
  }

  function when(t) {
    return t ? t.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '–';
  }

  async function loadTiers() {
    let t;
    try { t = await call('GET', '/api/v1/tiers'); } catch (e) { error(e.message); return; }
    const filter = $('keys-tier');
    const create = $('key-tier');
    filter.replaceChildren(el('option', { value: '' }, 'all tiers'));
    create.replaceChildren();
    for (const tier of t.tiers) {
      if (tier.name === 'anonymous') continue;
      filter.append(el('option', { value: tier.name }, tier.name));
      const o = el('option', { value: tier.name }, tier.name);
      if (tier.name === 'free') o.selected = true;
      create.append(o);
    }
  }

  async function loadKeys() {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if ($('keys-tier').value) q.set('tier', $('keys-tier').value);
    if ($('keys-state').value) q.set('state', $('keys-state').value);
    let page;
    try { page = await call('GET', '/api/v1/keys?' + q); } catch (e) { error(e.message); return; }
    nextOffset = page.next_offset;
    const table = el('table', { id: 'keys-table' }, el('tr', {}, el('th', {}, 'name'), el('th', {}, 'key'),
      el('th', {}, 'tier'), el('th', {}, 'state'), el('th', {}, 'owner'), el('th', {}, 'created'),
      el('th', {}, 'last used'), el('th', {}, '')));
    for (const k of page.keys) {
      const actions = el('td', {});
      if (k.state !== 'revoked') {
        const rotate = el('button', { type: 'button', class: 'rotate' }, 'Rotate');
        rotate.addEventListener('click', () => rotateKey(k));
        // Two clicks to revoke: revocation cannot be undone.
        const revoke = el('button', { type: 'button', class: 'revoke' }, 'Revoke');
        revoke.addEventListener('click', () => {
          if (revoke.dataset.armed) { revokeKey(k); return; }
          revoke.dataset.armed = '1';
          revoke.textContent = 'Confirm revoke';
        });
        actions.append(rotate, ' ', revoke);
      }
      const row = el('tr', { class: 'key-row' }, el('td', { class: 'key-name' }, k.name), el('td', {}, el('code', {}, k.key_start + '…')),
        el('td', {}, k.tier), el('td', { class: 'key-state state-' + k.state }, k.state +
          (k.previous_key_valid_until ? ' (previous key until ' + when(k.previous_key_valid_until) + ')' : '')),
        el('td', {}, k.owner_id || '–'), el('td', {}, when(k.created_at)), el('td', {}, when(k.last_used_at)), actions);
      row.dataset.id = k.id;
      table.append(row);
    }
    if (!page.keys.length) table.append(el('tr', {}, el('td', { colspan: '8', class: 'muted' }, 'No keys.')));
    $('keys-list').replaceChildren(table);
    $('keys-page').textContent = page.keys.length ? (offset + 1) + '–' + (offset + page.keys.length) : '';
    $('keys-prev').disabled = offset === 0;
    $('keys-next').disabled = nextOffset === null || nextOffset === undefined;
  }

  async function createKey(ev) {
    ev.preventDefault();
    error('');
    const body = { name: $('key-name').value.trim(), tier: $('key-tier').value };
    if ($('key-owner').value.trim()) body.owner_id = $('key-owner').value.trim();
    let k;
    try { k = await call('POST', '/api/v1/keys', body); } catch (e) { error(e.message); return; }
    $('key-name').value = '';
    $('key-owner').value = '';
    showSecret('New key "' + k.name + '" (' + k.id + '):', k.key);
    offset = 0;
    loadKeys();
  }

  async function rotateKey(k) {
    error('');
    let r;
    try {
      r = await call('POST', '/api/v1/keys/' + encodeURIComponent(k.id) + '/rotate', { grace_period: $('keys-grace').value.trim() || '24h' });
    } catch (e) { error(e.message); return; }
    showSecret('Rotated "' + r.name + '" (' + r.id + '); the previous key works until ' + when(r.previous_key_valid_until) + '. New key:', r.key);
    loadKeys();
  }

  async function revokeKey(k) {
    error('');
    try { await call('POST', '/api/v1/keys/' + encodeURIComponent(k.id) + '/revoke'); } catch (e) { error(e.message); return; }
    loadKeys();
  }

  function enable() {
    enabled = true;
    $('platform').hidden = false;
    offset = 0;
    loadTiers().then(loadKeys);
  }

  document.addEventListener('viva:stats', (ev) => {
    const platform = !!(ev.detail && ev.detail.platform);
    if (platform && !enabled) enable();
    if (!platform) $('platform').hidden = true;
  });

  document.addEventListener('viva:logout', () => {
    enabled = false;
    hideSecret();
    $('platform').hidden = true;
    $('keys-list').replaceChildren();
    $('keys-state').value = '';
    $('keys-grace').value = '24h';
    error('');
  });

  document.addEventListener('DOMContentLoaded', () => {
    $('key-create-form').addEventListener('submit', createKey);
    $('keys-filter').addEventListener('submit', (ev) => ev.preventDefault());
    $('key-secret-dismiss').addEventListener('click', hideSecret);
    $('keys-tier').addEventListener('change', () => { offset = 0; loadKeys(); });
    $('keys-state').addEventListener('change', () => { offset = 0; loadKeys(); });
    $('keys-prev').addEventListener('click', () => { offset = Math.max(0, offset - PAGE); loadKeys(); });
    $('keys-next').addEventListener('click', () => { if (nextOffset !== null) { offset = nextOffset; loadKeys(); } });
  });
})();
