/*
 * journeydesk for Freshdesk: shows journeydesk's sidebar page for the ticket, and holds back a
 * reply that links to articles the customer already read until the agent confirms.
 *
 * Plain ES2017, no dependencies. `app` comes from the Freshworks client script ({{{appclient}}}).
 * Calls to journeydesk go through the request templates in config/requests.json, so the app
 * secret (a secure iparam) stays on Freshworks' servers.
 */
(function () {
  'use strict';

  // Filled in by apps/build.py; the request templates point at the same server.
  var BUILT_URL = '{{PUBLIC_URL}}';
  // Longer than this and the reply goes out unchecked: journeydesk being slow or down must
  // never keep an agent from answering.
  var CHECK_TIMEOUT_MS = 5000;
  var TOKEN_MARGIN_MS = 60 * 1000; // renew the agent token this long before it expires
  // The panel's own words, in the agent's language; journeydesk writes the warnings in it too.
  var STRINGS = {
    en: {
      loading: 'Loading the customer\'s journey…',
      lang: 'en',
      frame_title: 'Customer journey',
      warnings_title: 'This customer already read:',
      instead: 'Unread in the same section:',
      send_anyway: 'Send anyway',
      confirmed: 'Confirmed. Send the reply again.',
      summary: 'Customer already read {titles}.',
      held: '{summary} To send it as it is, click "Send anyway" in the journeydesk panel and ' +
        'send again.',
      load_failed: 'journeydesk could not be loaded: {error}',
      start_failed: 'journeydesk could not start: {error}'
    },
    es: {
      loading: 'Cargando el recorrido del cliente…',
      lang: 'es',
      frame_title: 'Recorrido del cliente',
      warnings_title: 'Este cliente ya leyó:',
      instead: 'Sin leer en la misma sección:',
      send_anyway: 'Enviar igualmente',
      confirmed: 'Confirmado. Vuelve a enviar la respuesta.',
      summary: 'El cliente ya leyó {titles}.',
      held: '{summary} Para enviarla tal cual, pulsa «Enviar igualmente» en el panel de ' +
        'journeydesk y vuelve a enviarla.',
      load_failed: 'No se pudo cargar journeydesk: {error}',
      start_failed: 'journeydesk no pudo iniciarse: {error}'
    }
  };

  var state = {
    client: null,
    lang: 'en',
    ticketId: null,
    token: null,
    tokenExpiresAt: 0,
    pendingToken: null,
    sidebarShown: false,
    warnedKey: null, // the articles the panel currently warns about
    confirmedKey: null, // ...and the ones the agent chose to send anyway
    heldWarnings: null // the warnings a held reply waits on (reported once it goes out)
  };

  function byId(id) {
    return document.getElementById(id);
  }

  async function start() {
    var client = await app.initialized();
    state.client = client;
    client.events.on('ticket.sendReply', onSendReply, { intercept: true });
    client.events.on('app.activated', showSidebar);
    byId('jd-send-anyway').addEventListener('click', confirmSendAnyway);
    state.lang = await agentLocale();
    translatePanel();
    await showSidebar();
  }

  function tr(key, values) {
    var language = STRINGS[String(state.lang).split('-')[0].toLowerCase()] || STRINGS.en;
    var text = language[key] || STRINGS.en[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split('{' + name + '}').join(String(values[name]));
    });
    return text;
  }

  function translatePanel() {
    var texts = {
      'jd-status': 'loading', 'jd-warnings-title': 'warnings_title',
      'jd-send-anyway': 'send_anyway', 'jd-confirmed': 'confirmed'
    };
    Object.keys(texts).forEach(function (id) {
      var node = byId(id);
      if (node) node.textContent = tr(texts[id]);
    });
    var frame = byId('jd-frame'); // what a screen reader names the journey by
    if (frame) frame.title = tr('frame_title');
    if (document.documentElement) document.documentElement.lang = tr('lang');
  }

  // ------------------------------------------------------------------ the sidebar page

  async function showSidebar() {
    if (state.sidebarShown) return;
    try {
      var base = await baseUrl();
      var id = await ticketId();
      var token = await agentToken();
      var frame = byId('jd-frame');
      frame.src = base + '/sidebar/freshdesk/' + encodeURIComponent(id) +
        '?token=' + encodeURIComponent(token) + '&lang=' + encodeURIComponent(state.lang);
      frame.hidden = false;
      byId('jd-status').hidden = true;
      state.sidebarShown = true;
      resize('600px');
    } catch (err) {
      setStatus(tr('load_failed', { error: describeError(err) }));
    }
  }

  async function baseUrl() {
    var configured = '';
    try {
      var iparams = await state.client.iparams.get();
      configured = String((iparams && iparams.journeydesk_url) || '');
    } catch (err) {
      configured = '';
    }
    var url = (configured || BUILT_URL).replace(/\/+$/, '');
    // The token and check-reply calls go to the server baked into the request templates; a
    // page from anywhere else would not accept that token.
    if (origin(url) !== origin(BUILT_URL)) {
      throw new Error('this app was built for ' + BUILT_URL + ' but journeydesk_url is ' + url +
        '. Rebuild it with: python apps/build.py --public-url ' + url);
    }
    return url;
  }

  function origin(url) {
    var m = /^https?:\/\/[^/?#]+/i.exec(url);
    return m ? m[0].toLowerCase() : '';
  }

  async function ticketId() {
    if (state.ticketId === null) {
      var data = await state.client.data.get('ticket');
      state.ticketId = String(data.ticket.id);
    }
    return state.ticketId;
  }

  // UNVERIFIED: that loggedInUser carries the agent's Freshdesk language at contact.language;
  // the browser's language is the fallback.
  async function agentLocale() {
    try {
      var data = await state.client.data.get('loggedInUser');
      var user = (data && data.loggedInUser) || {};
      var lang = (user.contact && user.contact.language) || user.language;
      if (lang) return String(lang);
    } catch (err) {
      // fall through to the browser's language
    }
    return (typeof navigator !== 'undefined' && navigator.language) || 'en';
  }

  function resize(height) {
    try {
      var pending = state.client.instance.resize({ height: height });
      if (pending && pending.catch) pending.catch(function () {});
    } catch (err) {
      // an older host without instance.resize: the default height will do
    }
  }

  // ------------------------------------------------------------------ the agent token

  // One token per ticket view, shared by the page and the reply checks, renewed before expiry.
  function agentToken() {
    if (state.token && Date.now() < state.tokenExpiresAt - TOKEN_MARGIN_MS) {
      return Promise.resolve(state.token);
    }
    if (!state.pendingToken) {
      state.pendingToken = fetchToken().then(
        function (token) { state.pendingToken = null; return token; },
        function (err) { state.pendingToken = null; throw err; }
      );
    }
    return state.pendingToken;
  }

  async function fetchToken() {
    var id = await ticketId();
    var res = await state.client.request.invokeTemplate('getAgentToken', {
      body: JSON.stringify({ ticket_id: id })
    });
    var payload = JSON.parse(res.response);
    if (!payload || typeof payload.token !== 'string' || !payload.token) {
      throw new Error('journeydesk answered without a token');
    }
    state.token = payload.token;
    state.tokenExpiresAt = Date.now() + 1000 * (Number(payload.expires_in) || 300);
    return state.token;
  }

  // ------------------------------------------------------------------ the reply guard

  async function onSendReply(event) {
    var timer = null;
    var tooLate = new Promise(function (resolve) {
      timer = setTimeout(function () {
        console.warn('journeydesk: the reply check took too long; letting the reply go');
        resolve({ ok: true });
      }, CHECK_TIMEOUT_MS);
    });
    var verdict;
    try {
      verdict = await Promise.race([judgeReply(event), tooLate]);
    } catch (err) {
      console.warn('journeydesk: could not check the reply; letting it go', err);
      verdict = { ok: true };
    }
    clearTimeout(timer);
    if (verdict.ok) {
      event.helper.done();
    } else {
      event.helper.fail(verdict.message);
    }
  }

  async function judgeReply(event) {
    var draft = draftOf(await event.helper.getData());
    if (!draft) return { ok: true };
    var warnings = await checkReply(draft);
    var key = warningKey(warnings);
    if (!warnings.length || key === state.confirmedKey) {
      // A held reply now goes out: as confirmed ("Send anyway"), or edited until the
      // warnings it was held for are gone.
      if (state.heldWarnings) {
        reportOutcome(key === state.confirmedKey && warnings.length ? 'sent_anyway' : 'edited',
          state.heldWarnings);
      }
      clearWarnings();
      return { ok: true };
    }
    if (state.heldWarnings && key !== state.warnedKey) {
      reportOutcome('edited', state.heldWarnings); // edited, though still linking read articles
    }
    state.heldWarnings = warnings;
    showWarnings(warnings, key);
    var summary = summarize(warnings);
    notify('warning', summary);
    return { ok: false, message: tr('held', { summary: summary }) };
  }

  // UNVERIFIED: where ticket.sendReply's data holds the draft. The HTML `body` comes first
  // because links keep their href there; `body_text` is the fallback (the URLs may survive in
  // it as plain text). Both are looked for at the top level and under `data` or `reply`.
  function draftOf(data) {
    var holders = [data, data && data.data, data && data.reply];
    var fields = ['body', 'body_text'];
    for (var f = 0; f < fields.length; f++) {
      for (var h = 0; h < holders.length; h++) {
        var value = holders[h] && holders[h][fields[f]];
        if (typeof value === 'string' && value.trim()) return value;
      }
    }
    return '';
  }

  async function checkReply(draft, isRetry) {
    var id = await ticketId();
    var token = await agentToken();
    var res;
    try {
      res = await state.client.request.invokeTemplate('checkReply', {
        context: { ticket_id: id, token: token, lang: state.lang },
        body: JSON.stringify({ body: draft })
      });
    } catch (err) {
      if (err && err.status === 401 && !isRetry) {
        state.token = null; // revoked or expired early: fetch a new one, once
        return checkReply(draft, true);
      }
      throw err;
    }
    var payload = JSON.parse(res.response);
    return (payload && Array.isArray(payload.warnings)) ? payload.warnings : [];
  }

  // What the agent did about held warnings, for the reply-guard report. Never in the way of
  // the reply: a failure is only logged.
  async function reportOutcome(outcome, warnings) {
    try {
      var id = await ticketId();
      var token = await agentToken();
      await state.client.request.invokeTemplate('guardOutcome', {
        context: { ticket_id: id, token: token },
        body: JSON.stringify({
          outcome: outcome,
          articles: warnings.map(function (w) {
            return { source: w.source, article_id: String(w.article_id) };
          })
        })
      });
    } catch (err) {
      console.warn('journeydesk: could not record the reply guard outcome', err);
    }
  }

  // Which articles a set of warnings is about: "Send anyway" covers exactly these.
  function warningKey(warnings) {
    return warnings.map(function (w) {
      return String(w.article_id || w.url || w.title || '');
    }).sort().join('|');
  }

  function summarize(warnings) {
    var titles = warnings.map(function (w) {
      return '"' + (w.title || w.url || w.article_id) + '"';
    });
    return tr('summary', { titles: titles.join(', ') });
  }

  function describeWarning(w) {
    return w.message || ((w.title || w.url || w.article_id) + ' (already read)');
  }

  // Text, never HTML: titles come from the desk. Links only to http(s) URLs.
  function link(url, text) {
    var a = document.createElement('a');
    a.textContent = text;
    if (/^https?:\/\//i.test(url || '')) a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }

  function warningItem(w) {
    var item = document.createElement('li');
    item.className = w.severity === 'soft' ? 'jd-soft' : 'jd-strong';
    var title = link(w.url, w.title || w.url || String(w.article_id));
    title.className = 'jd-article';
    item.appendChild(title);
    var message = document.createElement('p');
    message.className = 'jd-message';
    message.textContent = describeWarning(w);
    item.appendChild(message);
    var alternatives = Array.isArray(w.alternatives) ? w.alternatives : [];
    if (alternatives.length) {
      var box = document.createElement('div');
      box.className = 'jd-alternatives';
      var label = document.createElement('span');
      label.textContent = tr('instead');
      box.appendChild(label);
      var list = document.createElement('ul');
      alternatives.forEach(function (alt) {
        var li = document.createElement('li');
        li.appendChild(link(alt.url, alt.title || alt.url));
        list.appendChild(li);
      });
      box.appendChild(list);
      item.appendChild(box);
    }
    return item;
  }

  function showWarnings(warnings, key) {
    var list = byId('jd-warning-list');
    list.textContent = '';
    warnings.forEach(function (w) {
      list.appendChild(warningItem(w));
    });
    state.warnedKey = key;
    byId('jd-confirmed').hidden = true;
    byId('jd-send-anyway').disabled = false;
    byId('jd-warnings').hidden = false;
  }

  function clearWarnings() {
    state.heldWarnings = null;
    state.warnedKey = null;
    state.confirmedKey = null;
    byId('jd-warnings').hidden = true;
  }

  function confirmSendAnyway() {
    state.confirmedKey = state.warnedKey;
    byId('jd-send-anyway').disabled = true;
    byId('jd-confirmed').hidden = false;
  }

  // ------------------------------------------------------------------ small helpers

  function notify(type, message) {
    try {
      var shown = state.client.interface.trigger('showNotify', { type: type, message: message });
      if (shown && shown.catch) shown.catch(function () {});
    } catch (err) {
      // the panel still shows the warnings
    }
  }

  function setStatus(text) {
    var status = byId('jd-status');
    status.textContent = text;
    status.hidden = false;
  }

  function describeError(err) {
    if (err && err.status) return 'HTTP ' + err.status;
    return (err && err.message) || String(err);
  }

  start().catch(function (err) {
    setStatus(tr('start_failed', { error: describeError(err) }));
  });
})();
