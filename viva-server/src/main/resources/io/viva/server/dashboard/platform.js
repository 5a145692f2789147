// Viva dashboard, full mode: API keys (list, create, rotate, revoke) through /api/v1/keys with the
// logged-in admin token. Shown only when /admin/stats says "platform": true (dashboard.js sends
// the stats as a 'viva:stats' event). A new or rotated secret is shown once and never stored.
// Below the keys: one key's usage over time (allowed vs denied, uPlot) and the invoices of a month.
(function () {
  'use strict';
  const TOKEN_KEY = 'viva.adminToken';
  const PAGE = 20;
  const $ = (id) => document.getElementById(id);
  let enabled = false;
  let offset = 0;
  let nextOffset = null;
  let usageKey = null;        // the key whose usage is charted: { id, name }
  let granularity = 'hour';
  let usageChart = null;
  // How far back each granularity looks: 3 hours by minute, 7 days by hour, 90 days by day.
  const SPAN = { minute: [60e3, 180], hour: [3600e3, 168], day: [86400e3, 90] };

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
      const usage = el('button', { type: 'button', class: 'usage' }, 'Usage');
      usage.addEventListener('click', () => { usageKey = { id: k.id, name: k.name }; loadUsage(); });
      actions.prepend(usage, ' ');
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

  function usageError(message) {
    $('usage-error').textContent = message || '';
  }

  // The API returns only buckets with requests; the chart gets every bucket of the span (zeros
  // between), so a quiet hour reads as zero instead of a line drawn across it.
  async function loadUsage() {
    if (!usageKey) return;
    usageError('');
    const [step, count] = SPAN[granularity];
    const end = Math.floor(Date.now() / step) * step + step;
    const start = end - step * count;
    const q = new URLSearchParams({ from: new Date(start).toISOString(), granularity });
    let u;
    try { u = await call('GET', '/api/v1/keys/' + encodeURIComponent(usageKey.id) + '/usage?' + q); } catch (e) { usageError(e.message); return; }
    const byStart = new Map(u.buckets.map((b) => [Date.parse(b.start), b]));
    const xs = [], allowed = [], denied = [];
    for (let t = start; t < end; t += step) {
      const b = byStart.get(t);
      xs.push(t / 1000);
      allowed.push(b ? b.allowed : 0);
      denied.push(b ? b.denied : 0);
    }
    const tot = u.totals || {};
    $('usage-key').textContent = usageKey.name + ' (' + usageKey.id + ')';
    $('usage-total').textContent = (tot.allowed || 0) + ' allowed, ' + (tot.denied || 0) + ' denied in the last ' +
      count + ' ' + granularity + 's' + (tot.denied ? ' (rate limited ' + (tot.rate_limited || 0) + ', over quota ' +
      (tot.usage_exceeded || 0) + ', disabled ' + (tot.disabled || 0) + ', expired ' + (tot.expired || 0) + ')' : '');
    const target = $('chart-usage');
    target.hidden = false;
    target.dataset.allowed = String(tot.allowed || 0);
    target.dataset.denied = String(tot.denied || 0);
    if (typeof uPlot === 'undefined') return;
    if (usageChart) usageChart.destroy();
    usageChart = new uPlot({
      width: Math.max(300, target.clientWidth || 600), height: 240,
      scales: { x: { time: true } },
      axes: [{}, { size: 60 }],
      series: [{}, { label: 'allowed per ' + granularity, stroke: '#2e7d32', width: 2 },
        { label: 'denied per ' + granularity, stroke: '#c62828', width: 2 }],
    }, [xs, allowed, denied], target);
  }

  // Integer minor units in the invoice's currency, e.g. 5037 USD → "USD 50.37".
  function money(minor, currency) {
    try {
      const f = new Intl.NumberFormat('en', { style: 'currency', currency, currencyDisplay: 'code' });
      const digits = f.resolvedOptions().maximumFractionDigits;
      return f.format(minor / Math.pow(10, digits));
    } catch (e) {
      return minor + ' ' + currency + ' (minor units)';
    }
  }

  function invoicesError(message) {
    $('invoices-error').textContent = message || '';
  }

  async function loadInvoices() {
    invoicesError('');
    $('invoice-detail').hidden = true;
    const period = $('invoices-period').value.trim();
    let r;
    try { r = await call('GET', '/api/v1/invoices?' + new URLSearchParams({ period })); } catch (e) { invoicesError(e.message); return; }
    const table = el('table', { id: 'invoices-table' }, el('tr', {}, el('th', {}, 'invoice'), el('th', {}, 'owner'),
      el('th', {}, 'period'), el('th', {}, 'requests'), el('th', {}, 'total'), el('th', {}, 'issued')));
    for (const inv of r.invoices) {
      const row = el('tr', { class: 'invoice-row' }, el('td', {}, el('code', {}, inv.id)), el('td', {}, inv.owner_id),
        el('td', {}, inv.period), el('td', {}, inv.requests), el('td', { class: 'amount' }, money(inv.total, inv.currency)),
        el('td', {}, when(inv.issued_at)));
      row.dataset.id = inv.id;
      row.addEventListener('click', () => showInvoice(inv.id));
      table.append(row);
    }
    if (!r.invoices.length) {
      table.append(el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'No invoices for ' + period +
        ' (a month is invoiced after it ends).')));
    }
    $('invoices-list').replaceChildren(table);
  }

  async function showInvoice(id) {
    invoicesError('');
    let inv;
    try { inv = await call('GET', '/api/v1/invoices/' + encodeURIComponent(id)); } catch (e) { invoicesError(e.message); return; }
    const lines = el('table', { id: 'invoice-lines' }, el('tr', {}, el('th', {}, 'key'), el('th', {}, 'tier'),
      el('th', {}, 'kind'), el('th', {}, 'description'), el('th', {}, 'quantity'), el('th', {}, 'per 1,000'), el('th', {}, 'amount')));
    for (const l of inv.lines || []) {
      lines.append(el('tr', { class: 'invoice-line' }, el('td', {}, l.key_id || ''), el('td', {}, l.tier || ''),
        el('td', {}, l.kind), el('td', {}, l.description || ''), el('td', {}, l.quantity),
        el('td', {}, l.unit_price_per_1000 === null || l.unit_price_per_1000 === undefined ? '' : money(l.unit_price_per_1000, inv.currency)),
        el('td', { class: 'amount' }, money(l.amount, inv.currency))));
    }
    lines.append(el('tr', { class: 'invoice-total' }, el('th', { colspan: '6' }, 'total'),
      el('th', { class: 'amount' }, money(inv.total, inv.currency))));
    const close = el('button', { type: 'button' }, 'Close');
    close.addEventListener('click', () => { $('invoice-detail').hidden = true; });
    $('invoice-detail').replaceChildren(el('h2', {}, 'Invoice ' + inv.id + ' — ' + inv.owner_id + ', ' + inv.period, close), lines);
    $('invoice-detail').hidden = false;
  }

  function enable() {
    enabled = true;
    $('platform').hidden = false;
    offset = 0;
    loadTiers().then(loadKeys);
    if (!$('invoices-period').value) $('invoices-period').value = new Date().toISOString().slice(0, 7);
    loadInvoices();
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
    usageKey = null;
    if (usageChart) { usageChart.destroy(); usageChart = null; }
    $('chart-usage').hidden = true;
    $('usage-key').textContent = 'pick a key\'s Usage button above';
    $('usage-total').textContent = '';
    $('invoices-list').replaceChildren();
    $('invoice-detail').replaceChildren();
    $('invoice-detail').hidden = true;
    $('invoices-period').value = '';
    usageError('');
    invoicesError('');
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
    for (const b of document.querySelectorAll('#usage-granularity button')) {
      b.addEventListener('click', () => {
        granularity = b.dataset.g;
        for (const o of document.querySelectorAll('#usage-granularity button')) o.classList.toggle('active', o === b);
        loadUsage();
      });
    }
    $('invoices-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadInvoices(); });
  });
})();
