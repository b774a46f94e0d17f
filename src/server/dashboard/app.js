// The dashboard page: asks for the bearer token once per tab, then follows /api/stream (server-sent
// events read with fetch, so that the token goes in a header) and redraws the clouds on every
// `clouds` event and adds every `entry` event to the timeline. No framework, no build step; data is
// put into the page as text, never as HTML.
/* global document, window, sessionStorage, fetch, TextDecoderStream, AbortController, setTimeout, clearTimeout, setInterval */
'use strict';

(() => {
  const tokenKey = 'stackanetes-dashboard-token';
  const maxEntries = 500;
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(tokenKey) || '';
  let lastId = 0;
  let controller;
  let retryTimer;
  let retryMs = 1000;
  const entries = [];

  /** An element with attributes and children (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') n.className = v;
      else n.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c !== undefined && c !== null && c !== false && c !== '') n.append(c);
    }
    return n;
  }

  function ago(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return '';
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  function timeEl(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return el('time', {}, '');
    return el(
      'time',
      { datetime: iso, title: d.toLocaleString(), 'data-relative': '' },
      `${d.toLocaleTimeString()} · ${ago(iso)}`,
    );
  }

  function setLive(state, text) {
    const live = $('live');
    live.dataset.state = state;
    live.textContent = text;
  }

  // ---- sign-in ----

  function showLogin(error) {
    if (controller) controller.abort();
    clearTimeout(retryTimer);
    $('main').hidden = true;
    $('signout').hidden = true;
    $('login').hidden = false;
    const err = $('login-error');
    err.hidden = !error;
    err.textContent = error || '';
    setLive('idle', 'signed out');
    $('token').focus();
  }

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    sessionStorage.setItem(tokenKey, token);
    start();
  });

  $('signout').addEventListener('click', () => {
    token = '';
    sessionStorage.removeItem(tokenKey);
    showLogin('');
  });

  function start() {
    if (!token) return showLogin('');
    $('login').hidden = true;
    $('main').hidden = false;
    $('signout').hidden = false;
    connect();
  }

  // ---- the stream ----

  async function connect() {
    if (controller) controller.abort();
    clearTimeout(retryTimer);
    const ctl = new AbortController();
    controller = ctl;
    setLive('connecting', 'connecting…');
    let res;
    try {
      res = await fetch('api/stream', {
        headers: { authorization: `Bearer ${token}`, 'last-event-id': String(lastId) },
        cache: 'no-store',
        signal: ctl.signal,
      });
    } catch {
      return retry(ctl);
    }
    if (res.status === 401) {
      sessionStorage.removeItem(tokenKey);
      token = '';
      return showLogin('The dashboard refused this token.');
    }
    if (!res.ok || !res.body) return retry(ctl);
    setLive('live', 'live');
    retryMs = 1000;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch {
        break;
      }
      if (chunk.done) break;
      buffer += chunk.value.replace(/\r\n/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        handle(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
    retry(ctl);
  }

  function retry(ctl) {
    if (ctl !== controller || ctl.signal.aborted) return;
    setLive('down', `reconnecting in ${Math.round(retryMs / 1000)} s…`);
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 15000);
  }

  function handle(block) {
    let event = 'message';
    let id;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = Number(value);
    }
    if (!data.length) return;
    let payload;
    try {
      payload = JSON.parse(data.join('\n'));
    } catch {
      return; // not ours to draw
    }
    if (event === 'clouds') renderClouds(payload);
    else if (event === 'entry') {
      if (id) lastId = Math.max(lastId, id);
      addEntry(payload);
    }
  }

  // ---- clouds ----

  const statusWord = { True: 'Ready', False: 'Not ready', Unknown: 'Unknown' };

  function badge(status, text) {
    return el('span', { class: 'badge', 'data-status': status || 'Unknown' }, text);
  }

  function count(n, word) {
    return `${n} ${word}${n === 1 ? '' : 's'}`;
  }

  function humanize(key) {
    return key.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  }

  function renderClouds(snap) {
    const root = $('clouds');
    const views = snap.clouds.map(cloudView);
    if (!views.length) {
      views.push(
        el(
          'p',
          { class: 'empty' },
          snap.synced
            ? 'No OpenStackCloud yet. Create one with: npx stackanetes apply -f examples/minimal.yaml'
            : 'Reading the cluster…',
        ),
      );
    }
    root.replaceChildren(...views);
  }

  function cloudView(c) {
    const ready = c.ready || { status: 'Unknown', reason: 'NotReconciled', message: '' };
    const comps = c.components || [];
    const readyCount = comps.filter((x) => x.status === 'True').length;
    const podCount = c.nodes.reduce((n, node) => n + node.pods.length, 0);
    const facts = [
      ['release', c.release],
      [
        'generation',
        c.observedGeneration < c.generation
          ? `${c.generation} (the operator has seen ${c.observedGeneration})`
          : String(c.generation),
      ],
      [ready.status === 'True' ? 'ready since' : 'in this state since', ready.since],
    ];
    // What else the operator writes into status (when, and by which replica, it last reconciled).
    for (const [k, v] of Object.entries(c.status || {})) {
      if (typeof v === 'string' || typeof v === 'number') facts.push([humanize(k), String(v)]);
    }
    const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/;
    const horizon =
      c.horizon && /^https?:\/\//.test(c.horizon)
        ? el(
            'a',
            { class: 'horizon', href: c.horizon, target: '_blank', rel: 'noopener noreferrer' },
            'Horizon ↗',
          )
        : null;
    return el(
      'article',
      { class: 'cloud', 'data-cloud': `${c.namespace}/${c.name}` },
      el(
        'header',
        { class: 'cloud-head' },
        el('h2', {}, c.name, ' ', el('span', { class: 'sub' }, c.namespace)),
        badge(ready.status, statusWord[ready.status] || ready.status),
        horizon,
      ),
      ready.message ? el('p', { class: 'summary' }, `${ready.reason}: ${ready.message}`) : null,
      el(
        'dl',
        { class: 'facts' },
        facts
          .filter(([, v]) => v)
          .map(([k, v]) =>
            el('div', {}, el('dt', {}, k), el('dd', {}, isoTime.test(v) ? timeEl(v) : v)),
          ),
      ),
      el(
        'h3',
        {},
        `Components `,
        el('span', { class: 'sub' }, `${readyCount}/${comps.length} ready`),
      ),
      el('ul', { class: 'components' }, comps.map(componentView)),
      el(
        'h3',
        {},
        'Pods per node ',
        el(
          'span',
          { class: 'sub' },
          `${count(podCount, 'pod')} on ${count(c.nodes.filter((n) => n.name).length, 'node')}`,
        ),
      ),
      el('div', { class: 'nodes' }, c.nodes.map(nodeView)),
    );
  }

  function componentView(x) {
    const pods = x.replicas !== undefined ? `${x.readyReplicas || 0}/${x.replicas} pods` : '';
    return el(
      'li',
      { class: 'component', 'data-component': x.name, 'data-status': x.status },
      el(
        'div',
        { class: 'row' },
        el('span', { class: 'dot', 'aria-hidden': 'true' }),
        el('span', { class: 'name' }, x.name),
        el('span', { class: 'pods' }, pods),
        el('span', { class: 'reason', title: x.since ? `since ${x.since}` : null }, x.reason),
      ),
      x.message ? el('p', { class: 'msg' }, x.message) : null,
    );
  }

  function nodeView(n) {
    return el(
      'section',
      { class: 'node', 'data-node': n.name },
      el(
        'h4',
        {},
        n.name || 'not scheduled yet',
        ' ',
        el('span', { class: 'sub' }, count(n.pods.length, 'pod')),
      ),
      el(
        'ul',
        { class: 'pods' },
        n.pods.map((p) => {
          const state = p.deleting
            ? 'deleting'
            : p.ready
              ? 'ready'
              : p.phase === 'Failed'
                ? 'failed'
                : 'waiting';
          const detail = [
            p.app,
            p.phase,
            p.ready ? 'Ready' : 'not Ready',
            p.waiting,
            p.restarts ? `${p.restarts} restarts` : '',
            p.deleting ? 'being deleted' : '',
          ]
            .filter(Boolean)
            .join(' · ');
          return el(
            'li',
            { class: 'pod', 'data-state': state, 'data-pod': p.name, title: detail },
            el('span', { class: 'dot', 'aria-hidden': 'true' }),
            el('span', { class: 'name' }, p.name),
            p.waiting ? el('span', { class: 'waiting' }, p.waiting) : null,
            p.restarts
              ? el('span', { class: 'restarts', title: 'restarts' }, `↻${p.restarts}`)
              : null,
          );
        }),
      ),
    );
  }

  // ---- timeline ----

  function addEntry(e) {
    if (entries.some((x) => x.id === e.id)) return;
    const item = el(
      'li',
      {
        class: 'entry',
        'data-kind': e.kind,
        'data-severity': e.severity,
        'data-id': e.id,
      },
      el(
        'div',
        { class: 'entry-head' },
        el('span', { class: 'kind' }, e.title),
        el('span', { class: 'cloud-name' }, e.cloud),
        timeEl(e.time),
      ),
      el('p', { class: 'msg' }, e.message),
      e.component || e.node
        ? el(
            'p',
            { class: 'tags' },
            e.component ? el('span', { class: 'tag' }, e.component) : null,
            e.node ? el('span', { class: 'tag' }, `node ${e.node}`) : null,
          )
        : null,
    );
    // Newest first; entries from history can arrive after newer ones.
    const key = (x) => [Date.parse(x.time) || 0, x.id];
    const [t, id] = key(e);
    let at = entries.findIndex((x) => {
      const [xt, xid] = key(x);
      return xt < t || (xt === t && xid < id);
    });
    if (at < 0) at = entries.length;
    const list = $('timeline');
    list.insertBefore(item, list.children[at] || null);
    entries.splice(at, 0, { id: e.id, time: e.time });
    while (entries.length > maxEntries) {
      entries.pop();
      list.lastElementChild.remove();
    }
    $('timeline-empty').hidden = true;
  }

  setInterval(() => {
    for (const t of document.querySelectorAll('time[data-relative]')) {
      const iso = t.getAttribute('datetime');
      t.textContent = `${new Date(iso).toLocaleTimeString()} · ${ago(iso)}`;
    }
  }, 30000);

  window.addEventListener('pageshow', () => start());
})();
