// Viva admin dashboard: plain JS, data from the admin API (bearer token kept in sessionStorage).
(function () {
  'use strict';
  const TOKEN_KEY = 'viva.adminToken';
  const $ = (id) => document.getElementById(id);
  let windowName = 'minute';
  let rateChart = null;
  let latencyChart = null;
  let timers = [];

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else if (k === 'style') e.style.cssText = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  async function api(path, options) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const res = await fetch(path, Object.assign({ headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' } }, options || {}));
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    if (res.status === 401 || res.status === 403) {
      logout((body && body.message) || 'not authorized');
      throw new Error('unauthorized');
    }
    if (!res.ok) throw new Error((body && body.message) || ('HTTP ' + res.status));
    return body;
  }

  function fmt(n) {
    if (n === null || n === undefined) return '–';
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return Number.isInteger(n) ? String(n) : n.toFixed(1);
  }

  function banner(text) {
    const b = $('banner');
    b.hidden = !text;
    b.textContent = text || '';
  }

  function chart(target, series, title) {
    const width = Math.max(300, target.clientWidth || 460);
    return new uPlot({
      width, height: 240, title,
      scales: { x: { time: true } },
      axes: [{}, { size: 60 }],
      series: [{}].concat(series),
    }, [[], ...series.map(() => [])], target);
  }

  function ensureCharts() {
    if (rateChart || typeof uPlot === 'undefined') return;
    rateChart = chart($('chart-rate'), [
      { label: 'allowed/s', stroke: '#2e7d32', width: 2 },
      { label: 'denied/s', stroke: '#c62828', width: 2 },
    ]);
    latencyChart = chart($('chart-latency'), [
      { label: 'p50 ms', stroke: '#1565c0', width: 2 },
      { label: 'p99 ms', stroke: '#ef6c00', width: 2 },
    ]);
  }

  async function refreshStats() {
    let s;
    try {
      s = await api('/admin/stats');
    } catch (e) {
      if (e.message !== 'unauthorized') banner('Viva is not answering (' + e.message + '); showing the last data.');
      return;
    }
    const st = s.store || {};
    if (st.degraded || st.healthy === false) {
      banner('Store degraded: Redis is ' + (st.connected ? 'failing' : 'unreachable') + ' (' + (st.where || '') +
        '); decisions follow the failure mode "' + st.failure_mode + '". Counts may be partial.');
    } else {
      banner(null);
    }
    $('rate').textContent = fmt(s.checks_per_second);
    $('allowed-total').textContent = fmt(s.totals.allowed);
    $('denied-total').textContent = fmt(s.totals.denied);
    $('p99').textContent = s.latency_ms.p99 === null ? '–' : s.latency_ms.p99.toFixed(3) + ' ms';
    $('active-keys').textContent = s.active_keys === null ? 'n/a' : fmt(s.active_keys);
    $('store').textContent = st.type + (st.degraded ? ' (degraded)' : '');
    $('mode').textContent = s.namespaces + ' namespaces · policies v' + s.policies_version + ' · ' +
      (s.scope === 'cluster' ? 'windows merged over ' + s.instances + ' instances' : 'this instance') +
      (s.scope_problem ? ' (' + s.scope_problem + ')' : '');
    ensureCharts();
    if (rateChart) {
      const xs = s.series.map((p) => p.t / 1000);
      rateChart.setData([xs, s.series.map((p) => p.allowed), s.series.map((p) => p.denied)]);
      latencyChart.setData([xs, s.series.map((p) => p.p50), s.series.map((p) => p.p99)]);
      $('chart-rate').dataset.points = String(xs.length);
      $('chart-rate').dataset.lastDenied = String(s.series.length ? s.series[s.series.length - 1].denied : 0);
    }
    // platform.js (full mode's key management) listens: it shows its section where s.platform is true.
    document.dispatchEvent(new CustomEvent('viva:stats', { detail: s }));
    $('app').dataset.updates = String((Number($('app').dataset.updates) || 0) + 1);
  }

  async function refreshOffenders() {
    let o;
    try { o = await api('/admin/top_offenders?window=' + windowName + '&limit=10'); } catch (e) { return; }
    const box = $('offenders-bars');
    box.replaceChildren();
    const max = Math.max(1, ...o.offenders.map((x) => x.denied));
    for (const x of o.offenders) {
      const row = el('div', { class: 'row offender', title: 'look up ' + x.identifier },
        el('span', { class: 'name' }, x.namespace + ' / ' + x.identifier),
        el('div', { class: 'bar', style: 'width:' + (100 * x.denied / max).toFixed(1) + '%' }),
        el('span', { class: 'count' }, fmt(x.denied)));
      row.dataset.identifier = x.identifier;
      row.addEventListener('click', () => { $('lookup-id').value = x.identifier; $('lookup-ns').value = x.namespace; lookup(); });
      box.append(row);
    }
    if (!o.offenders.length) box.append(el('p', { class: 'muted' }, 'No denials in this window.'));
    $('offenders-note').textContent = o.denied_total + ' denials in the last ' + o.window +
      (o.exact ? ' (exact counts)' : ' (counts may be high by at most ' + o.max_error + ')');
  }

  async function refreshPolicies() {
    let r;
    try { r = await api('/admin/resources'); } catch (e) { return; }
    const sel = $('lookup-ns');
    const chosen = sel.value;
    sel.replaceChildren(el('option', { value: '' }, 'all namespaces'));
    const table = el('table', {}, el('tr', {}, el('th', {}, 'namespace'), el('th', {}, 'limits'),
      el('th', {}, 'last hour: allowed / denied'), el('th', {}, ''), el('th', {}, 'since start')));
    for (const n of r.namespaces) {
      sel.append(el('option', { value: n.namespace }, n.namespace));
      const h = n.traffic.hour;
      const total = Math.max(1, h.allowed + h.denied);
      const limits = n.limits.map((l) => l.algorithm + ' ' + l.limit + '/' + l.window).join(', ') +
        (n.overrides ? ' (+' + n.overrides + ' overrides)' : '') + (n.shadow ? ' [shadow]' : '');
      const ss = n.traffic.since_start || { allowed: 0, denied: 0 };
      table.append(el('tr', {}, el('td', {}, n.namespace), el('td', {}, limits),
        el('td', {}, fmt(h.allowed) + ' / ' + fmt(h.denied)),
        el('td', {}, el('div', { class: 'split' },
          el('div', { class: 'a', style: 'width:' + (100 * h.allowed / total) + '%' }),
          el('div', { class: 'd', style: 'width:' + (100 * h.denied / total) + '%' }))),
        el('td', {}, fmt(ss.allowed) + ' / ' + fmt(ss.denied))));
    }
    sel.value = chosen;
    $('policies').replaceChildren(table);
  }

  async function lookup() {
    const id = $('lookup-id').value.trim();
    if (!id) return;
    const ns = $('lookup-ns').value;
    const out = $('lookup-result');
    let u;
    try {
      u = await api('/admin/user/' + encodeURIComponent(id) + (ns ? '?namespace=' + encodeURIComponent(ns) : ''));
    } catch (e) {
      out.replaceChildren(el('p', { class: 'error' }, e.message));
      return;
    }
    const table = el('table', { id: 'lookup-table' }, el('tr', {}, el('th', {}, 'namespace'), el('th', {}, 'limit'),
      el('th', {}, 'remaining'), el('th', {}, ''), el('th', {}, 'resets in')));
    for (const n of u.namespaces) {
      for (const l of n.limits) {
        const frac = l.limit > 0 ? Math.max(0, Math.min(1, l.remaining / l.limit)) : 0;
        table.append(el('tr', {}, el('td', {}, n.namespace + (n.override ? ' (override)' : '')),
          el('td', {}, l.algorithm + ' ' + l.limit + '/' + l.window),
          el('td', { class: 'remaining' }, l.remaining + ' of ' + l.limit),
          el('td', {}, el('div', { class: 'meter' + (frac < 0.2 ? ' low' : '') }, el('div', { style: 'width:' + (100 * frac) + '%' }))),
          el('td', {}, l.reset_after_seconds.toFixed(1) + ' s')));
      }
    }
    out.replaceChildren(el('p', { class: 'muted' }, 'State of ' + u.identifier + (u.store_degraded ? ' (store degraded: failure-mode answer)' : '') +
      ', read without consuming:'), table);
  }

  function start() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    refreshStats(); refreshOffenders(); refreshPolicies();
    timers = [setInterval(refreshStats, 2000), setInterval(refreshOffenders, 3000), setInterval(refreshPolicies, 5000)];
  }

  function logout(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    timers.forEach(clearInterval);
    timers = [];
    $('app').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    document.dispatchEvent(new CustomEvent('viva:logout'));
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $('token').value);
      $('token').value = '';
      try {
        await api('/admin/stats');
        start();
      } catch (e) {
        if (e.message !== 'unauthorized') $('login-error').textContent = e.message;
      }
    });
    $('logout').addEventListener('click', () => logout(''));
    $('lookup-form').addEventListener('submit', (ev) => { ev.preventDefault(); lookup(); });
    for (const b of document.querySelectorAll('.switch button')) {
      b.addEventListener('click', () => {
        windowName = b.dataset.window;
        document.querySelectorAll('.switch button').forEach((x) => x.classList.toggle('active', x === b));
        refreshOffenders();
      });
    }
    if (sessionStorage.getItem(TOKEN_KEY)) start();
  });
})();
