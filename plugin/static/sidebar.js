/*
 * journeydesk sidebar: the reply-draft checker, the knowledge-base search, remembered folds and,
 * inside Zendesk, the ZAF client (ticket id, resize, and the ticket.save hook that holds back
 * a reply linking an article the customer already read until the agent confirms).
 *
 * The page is server-rendered; this script only adds behaviour. Everything that comes from a
 * desk or a customer is inserted as text (textContent), never as HTML, except the journey
 * fragment, which the server rendered with autoescaping.
 *
 * Plain ES2017, no dependencies.
 */
(function () {
  'use strict';

  var DRAFT_DELAY_MS = 350;
  var SEARCH_DELAY_MS = 250;
  var HOLD_LIMIT_MS = 25000; // a held save gives up before the host's limit (believed 30 s)
  var SAVE_CHECK_TIMEOUT_MS = 4000; // past this the reply goes out: an outage never blocks agents
  var MAX_DRAFT_BYTES = 90000; // under the server's 100 KB, with room for JSON escapes

  var config = JSON.parse(document.getElementById('jd-config').textContent);
  var strings = config.strings || {};
  var zaf = { client: null, pending: null, lastCheck: null, lastHeight: 0 };

  // ---------------------------------------------------------------- small helpers

  function tr(key, values) {
    var text = strings[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split('{' + name + '}').join(String(values[name]));
    });
    return text;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function link(url, text, className) {
    var a = el('a', className, text);
    if (/^https?:\/\//i.test(url || '')) a.href = url; // never a javascript: URL
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function setStatus(text) {
    var status = byId('jd-status');
    if (!status) return;
    status.textContent = text || '';
    status.hidden = !text;
    resize();
  }

  function api(path, options) {
    options = options || {};
    var headers = { Accept: 'application/json' };
    if (options.body) headers['Content-Type'] = 'application/json';
    if (config.token) headers.Authorization = 'Bearer ' + config.token;
    // the agent's language travels with every call: the warnings are written in it
    var url = config.api + path + (path.indexOf('?') < 0 ? '?' : '&') +
      'lang=' + encodeURIComponent(config.lang || 'en');
    return fetch(url, {
      method: options.method || 'GET',
      headers: headers,
      body: options.body,
      signal: options.signal,
      credentials: 'omit'
    }).then(function (res) {
      if (res.ok) return res.json();
      var err = new Error('HTTP ' + res.status);
      err.status = res.status;
      throw err;
    });
  }

  function ticketPath() {
    return '/tickets/' + encodeURIComponent(config.source) + '/' +
      encodeURIComponent(config.ticket_id);
  }

  function describeFailure(err) {
    return err && err.status === 401 ? tr('session_expired') : tr('guard_error');
  }

  // ---------------------------------------------------------------- warnings

  function checkDraft(text, signal) {
    var body = linksOnly(text);
    if (!body.trim()) return Promise.resolve({ warnings: [], links: 0, unread: [] });
    return api(ticketPath() + '/check-reply', {
      method: 'POST',
      body: JSON.stringify({ body: body }),
      signal: signal
    });
  }

  // The server takes drafts up to 100 KB. A longer one (a pasted log, an inline image) is
  // checked by its links alone: they are all the guard reads, so nothing goes unchecked.
  function linksOnly(text) {
    if (new TextEncoder().encode(text).length <= MAX_DRAFT_BYTES) return text;
    var urls = text.match(/https?:\/\/[^\s"'<>]+/gi) || [];
    return urls.join("\n").slice(0, MAX_DRAFT_BYTES / 2); // links are ASCII but for a few
  }

  function renderResult(container, result) {
    container.textContent = '';
    var warnings = result.warnings || [];
    if (!warnings.length) {
      var n = result.links || 0;
      var text = n === 0 ? tr('guard_no_links') : tr(n === 1 ? 'guard_ok_one' : 'guard_ok_many', { n: n });
      container.appendChild(el('p', 'guard-ok' + (n ? ' checked' : ''), text));
      return;
    }
    var list = el('ul', 'warnings');
    warnings.forEach(function (w) { list.appendChild(warningItem(w)); });
    container.appendChild(list);
    var unread = result.unread || [];
    if (unread.length) {  // what is fine in the same draft, so the warning is not the whole story
      var clear = el('p', 'guard-ok checked guard-clear',
        tr(unread.length === 1 ? 'guard_clear_one' : 'guard_clear_many', { n: unread.length }) + ' ');
      unread.forEach(function (u, i) {
        if (i) clear.appendChild(document.createTextNode(', '));
        clear.appendChild(link(u.url, u.title || u.url, 'clear-article'));
      });
      container.appendChild(clear);
    }
  }

  function warningItem(w) {
    var soft = w.severity === 'soft';
    var item = el('li', 'warning warning-' + (soft ? 'soft' : 'strong'));
    item.dataset.articleId = w.article_id;
    var head = el('div', 'warning-head');
    head.appendChild(el('span', 'warning-label', tr(soft ? 'guard_soft' : 'guard_strong')));
    head.appendChild(link(w.url, w.title, 'warning-article'));
    item.appendChild(head);
    item.appendChild(el('p', 'warning-message', w.message));
    if (w.alternatives && w.alternatives.length) {
      var box = el('div', 'alternatives');
      box.appendChild(el('span', 'alternatives-label', tr('guard_instead')));
      var list = el('ul');
      w.alternatives.forEach(function (alt) {
        var li = el('li');
        li.appendChild(link(alt.url, alt.title, 'alternative'));
        list.appendChild(li);
      });
      box.appendChild(list);
      item.appendChild(box);
    }
    return item;
  }

  function bindDraft(root) {
    var box = root.querySelector('#jd-draft');
    var out = root.querySelector('#jd-draft-result');
    if (!box || !out) return;
    var inflight = null;
    var run = debounce(function () {
      var text = box.value;
      if (inflight) inflight.abort();
      if (!text.trim()) {
        out.textContent = '';
        resize();
        return;
      }
      inflight = new AbortController();
      out.classList.add('busy');
      out.setAttribute('aria-busy', 'true');
      checkDraft(text, inflight.signal).then(function (result) {
        renderResult(out, result);
      }, function (err) {
        if (err && err.name === 'AbortError') return;
        out.textContent = '';
        out.appendChild(el('p', 'guard-error', describeFailure(err)));
      }).then(function () {
        out.classList.remove('busy');
        out.removeAttribute('aria-busy');
        resize();
      });
    }, DRAFT_DELAY_MS);
    box.addEventListener('input', run);
  }

  // ---------------------------------------------------------------- article search

  function bindSearch(root) {
    var input = root.querySelector('#jd-search');
    var out = root.querySelector('#jd-search-results');
    if (!input || !out) return;
    var inflight = null;
    var run = debounce(function () {
      var q = input.value.trim();
      if (inflight) inflight.abort();
      if (!q) {
        out.textContent = '';
        resize();
        return;
      }
      inflight = new AbortController();
      api(ticketPath() + '/articles/search?q=' + encodeURIComponent(q), {
        signal: inflight.signal
      }).then(function (payload) {
        renderSearch(out, q, payload.results || []);
      }, function (err) {
        if (err && err.name === 'AbortError') return;
        out.textContent = '';
        out.appendChild(el('p', 'guard-error', describeFailure(err)));
      }).then(resize);
    }, SEARCH_DELAY_MS);
    input.addEventListener('input', run);
  }

  function renderSearch(out, q, results) {
    out.textContent = '';
    if (!results.length) {
      out.appendChild(el('p', 'empty', tr('search_empty', { q: q })));
      return;
    }
    var list = el('ol', 'search-list');
    results.forEach(function (r) {
      var li = el('li', 'result ' + (r.read ? 'result-read' : 'result-unread'));
      li.dataset.articleId = r.article_id;
      li.appendChild(link(r.url, r.title, 'result-title'));
      var meta = el('span', 'meta');
      if (r.read) {
        meta.appendChild(el('span', 'tag tag-read', tr('search_read')));
        meta.appendChild(el('span', 'detail', tr('search_read_detail', {
          n: r.views, date: day(r.last_viewed_at)
        })));
      } else {
        meta.appendChild(el('span', 'tag tag-unread', tr('search_unread')));
      }
      if (r.section) meta.appendChild(el('span', 'section', r.section));
      li.appendChild(meta);
      list.appendChild(li);
    });
    out.appendChild(list);
  }

  // ---------------------------------------------------------------- folds

  // The sections below the articles (tools, timeline, other tickets) start closed; each
  // agent's choice is remembered in this browser, so an agent who keeps the timeline open
  // finds it open on the next ticket.
  var FOLD_KEY = 'journeydesk.fold.';

  function remembered(name) {
    try {
      return window.localStorage.getItem(FOLD_KEY + name);
    } catch (err) {
      return null; // storage blocked (a sandboxed frame): every fold starts closed
    }
  }

  function remember(name, open) {
    try {
      window.localStorage.setItem(FOLD_KEY + name, open ? 'open' : 'closed');
    } catch (err) {
      // not remembered; the fold still works
    }
  }

  function bindFolds(root) {
    Array.prototype.forEach.call(root.querySelectorAll('details.fold[data-fold]'), function (fold) {
      var name = fold.dataset.fold;
      if (remembered(name) === 'open') fold.open = true;
      fold.addEventListener('toggle', function () {
        remember(name, fold.open);
        resize();
      });
    });
  }

  // A day as the server writes it: "Nov 17, 2026" / "17 nov 2026" (UTC, as on the page).
  function day(iso) {
    var when = new Date(iso || '');
    if (isNaN(when.getTime())) return (iso || '').slice(0, 10);
    try {
      return new Intl.DateTimeFormat(config.lang || 'en', {
        day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC'
      }).format(when).replace('.', '');
    } catch (err) {
      return iso.slice(0, 10);
    }
  }

  function bind(root) {
    bindDraft(root);
    bindSearch(root);
    bindFolds(root);
    resize();
  }

  // ---------------------------------------------------------------- Zendesk (ZAF v2)

  function resize() {
    if (!zaf.client) return;
    var height = Math.ceil(document.body.getBoundingClientRect().height) + 2;
    if (height === zaf.lastHeight) return;
    zaf.lastHeight = height;
    try {
      var done = zaf.client.invoke('resize', { width: '100%', height: height + 'px' });
      if (done && done.catch) done.catch(function () {});
    } catch (err) {
      // an older host without resize: Zendesk's default height will do
    }
  }

  function startZendesk() {
    var client = window.ZAFClient && window.ZAFClient.init();
    if (!client) {
      setStatus(tr('not_in_zendesk'));
      return;
    }
    zaf.client = client;
    if (window.ResizeObserver) new ResizeObserver(function () { resize(); }).observe(document.body);
    client.on('ticket.save', onTicketSave);
    client.on('comment.text.changed', debounce(previewDraft, DRAFT_DELAY_MS));
    byId('jd-send-anyway').addEventListener('click', function () {
      if (zaf.pending) zaf.pending.confirm();
    });
    byId('jd-edit-reply').addEventListener('click', function () {
      if (zaf.pending) zaf.pending.cancel();
    });
    client.get(['ticket.id', 'currentUser.locale']).then(function (data) {
      if (data['ticket.id'] == null) throw new Error('no ticket id');
      config.ticket_id = String(data['ticket.id']);
      return loadJourney(data['currentUser.locale']);
    }).catch(function (err) {
      setStatus(err && err.status === 401 ? tr('session_expired')
        : err && err.status === 404 ? tr('ticket_not_found') : tr('load_error'));
    });
  }

  function loadJourney(locale) {
    var url = '/sidebar/' + encodeURIComponent(config.source) + '/' +
      encodeURIComponent(config.ticket_id) + '?fragment=1' +
      (locale ? '&lang=' + encodeURIComponent(locale) : '');
    return fetch(url, {
      headers: { Authorization: 'Bearer ' + config.token, Accept: 'text/html' },
      credentials: 'omit'
    }).then(function (res) {
      if (!res.ok) {
        var err = new Error('HTTP ' + res.status);
        err.status = res.status;
        throw err;
      }
      return res.text();
    }).then(function (html) {
      var holder = byId('jd-journey');
      holder.innerHTML = html; // server-rendered and autoescaped; scripts in it never run
      var fresh = holder.querySelector('script[type="application/json"].jd-strings');
      if (fresh) {
        strings = JSON.parse(fresh.textContent);
        config.lang = fresh.dataset.lang || config.lang;
        translateConfirm();
      }
      setStatus('');
      bind(holder);
    });
  }

  function translateConfirm() {
    byId('jd-confirm-title').textContent = tr('confirm_live');
    byId('jd-send-anyway').textContent = tr('send_anyway');
    byId('jd-edit-reply').textContent = tr('edit_reply');
  }

  // The draft is checked as the agent writes, so at save time the answer is usually known.
  function cachedCheck(draft) {
    if (zaf.lastCheck && zaf.lastCheck.draft === draft) return zaf.lastCheck.result;
    var result = checkDraft(draft);
    zaf.lastCheck = { draft: draft, result: result };
    result.catch(function () {
      if (zaf.lastCheck && zaf.lastCheck.result === result) zaf.lastCheck = null;
    });
    return result;
  }

  function previewDraft(text) {
    var draft = typeof text === 'string' ? Promise.resolve(text)
      : zaf.client.get('comment.text').then(function (data) { return data['comment.text']; });
    draft.then(function (value) {
      if (zaf.pending || !config.ticket_id) return; // a save is waiting on the agent: leave it
      if (!value || !value.trim()) return showConfirm(null);
      return cachedCheck(value).then(function (result) {
        showConfirm(result.warnings.length ? result : null);
      });
    }).catch(function () { /* the save hook checks again */ });
  }

  function withTimeout(promise, ms) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject(new Error('timeout')); }, ms);
      promise.then(function (value) { clearTimeout(timer); resolve(value); },
        function (err) { clearTimeout(timer); reject(err); });
    });
  }

  // ZAF runs this on submit. The SDK cancels the save when the returned Promise rejects (its
  // reason is shown to the agent) and lets it through when it resolves, whatever the value.
  function onTicketSave() {
    return zaf.client.get(['comment.text', 'comment.type']).then(function (data) {
      var draft = data['comment.text'] || '';
      if (data['comment.type'] === 'internalNote' || !draft.trim() || !config.ticket_id) {
        return true;
      }
      return withTimeout(cachedCheck(draft), SAVE_CHECK_TIMEOUT_MS).then(function (result) {
        if (!result.warnings.length) {
          showConfirm(null);
          return true;
        }
        return askAgent(result);
      }, function (err) {
        console.warn('journeydesk: could not check the reply; letting it through', err);
        return true;
      });
    }, function () {
      return true;
    });
  }

  function askAgent(result) {
    if (zaf.pending) zaf.pending.cancel();
    showConfirm(result, true);
    var titles = result.warnings.map(function (w) { return '“' + w.title + '”'; }).join(', ');
    return new Promise(function (resolve, reject) {
      // Zendesk gives a held save a limited time (ZAF documents no figure; the SDK sets none):
      // past HOLD_LIMIT_MS the save is cancelled here, with a message saying why, rather
      // than ended by the host with none.
      var timer = setTimeout(function () {
        if (zaf.pending !== pending) return;
        zaf.pending = null;
        showConfirm(result, false);
        reject(tr('confirm_expired', { seconds: HOLD_LIMIT_MS / 1000 }));
      }, HOLD_LIMIT_MS);
      var pending = zaf.pending = {
        confirm: function () {
          clearTimeout(timer);
          zaf.pending = null;
          showConfirm(null);
          reportOutcome('sent_anyway', result.warnings);
          resolve(true);
        },
        cancel: function () {
          clearTimeout(timer);
          zaf.pending = null;
          showConfirm(result, false);
          reportOutcome('edited', result.warnings);
          reject(tr('confirm_reject', { titles: titles }));
        }
      };
    });
  }

  // What the agent chose, for the reply-guard report. Never in the way of the reply: a
  // failure is only logged.
  function reportOutcome(outcome, warnings) {
    var articles = warnings.map(function (w) {
      return { source: w.source, article_id: String(w.article_id) };
    });
    api(ticketPath() + '/guard-outcome', {
      method: 'POST',
      body: JSON.stringify({ outcome: outcome, articles: articles })
    }).catch(function (err) {
      console.warn('journeydesk: could not record the reply guard outcome', err);
    });
  }

  function showConfirm(result, asking) {
    var panel = byId('jd-confirm');
    if (!result) {
      panel.hidden = true;
      resize();
      return;
    }
    byId('jd-confirm-title').textContent = tr(asking ? 'confirm_title' : 'confirm_live');
    renderResult(byId('jd-confirm-list'), result);
    byId('jd-confirm-buttons').hidden = !asking;
    panel.hidden = false;
    panel.classList.toggle('asking', !!asking);
    if (asking) {
      panel.scrollIntoView({ block: 'start' });
      byId('jd-send-anyway').focus();
    }
    resize();
  }

  // ---------------------------------------------------------------- start

  if (config.desk === 'zendesk') {
    startZendesk();
  } else {
    bind(document);
  }
})();
