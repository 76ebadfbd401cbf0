/*
 * journeydesk for Chatwoot: the script of the dashboard app page (/chatwoot/app?key=...).
 *
 * Chatwoot loads that page in an iframe beside the conversation and posts it the context as a
 * JSON string: {"event": "appContext", "data": {"conversation": {...}, "contact": {...}}}.
 * This script asks for that context, then shows journeydesk's sidebar for the conversation in
 * an inner iframe, so it keeps listening and follows the agent from one conversation to the
 * next.
 *
 * The context is unsigned; Chatwoot signs nothing. The sidebar URL carries the per-install key,
 * and the server confirms the conversation and its contact through Chatwoot's API before it
 * shows anything.
 *
 * Plain ES2017, no dependencies.
 */
(function () {
  'use strict';

  var FETCH_INFO = 'chatwoot-dashboard-app:fetch-info';
  // Chatwoot does not tell an app when the agent opens another conversation, so ask again now
  // and then while the tab is visible. A postMessage costs nothing.
  var REFRESH_MS = 4000;

  var key = new URLSearchParams(window.location.search).get('key') || '';
  // The page's language is the agent's (journeydesk picked it from the browser).
  var STRINGS = {
    en: {
      open_conversation: 'Open a conversation to see the customer journey.',
      not_in_chatwoot: 'Open this page as a Chatwoot dashboard app (Settings → Integrations → ' +
        'Dashboard apps).',
      no_key: 'This dashboard app URL has no ?key=. Copy the URL journeydesk gives for this ' +
        'Chatwoot account.',
      loading: 'Loading the customer journey…',
      frame_title: 'Customer journey'
    },
    es: {
      open_conversation: 'Abre una conversación para ver el recorrido del cliente.',
      not_in_chatwoot: 'Abre esta página como app del panel de Chatwoot (Ajustes → ' +
        'Integraciones → Apps del panel).',
      no_key: 'La URL de esta app del panel no tiene ?key=. Copia la URL que journeydesk da ' +
        'para esta cuenta de Chatwoot.',
      loading: 'Cargando el recorrido del cliente…',
      frame_title: 'Recorrido del cliente'
    }
  };
  var root = document.documentElement;
  var strings = STRINGS[String((root && root.lang) || 'en').split('-')[0]] || STRINGS.en;
  var shownSrc = '';

  function element(id, tag) {
    var found = document.getElementById(id);
    if (found) return found;
    var created = document.createElement(tag);
    created.id = id;
    document.body.appendChild(created);
    return created;
  }

  function setStatus(text) {
    var status = element('journeydesk-status', 'p');
    status.textContent = text;
    status.hidden = !text;
  }

  function parse(data) {
    if (typeof data !== 'string') return null; // Chatwoot always sends a JSON string
    try {
      return JSON.parse(data);
    } catch (err) {
      return null; // someone else's message
    }
  }

  function onMessage(event) {
    if (event.source !== window.parent) return; // only the Chatwoot page that embeds us
    var message = parse(event.data);
    if (!message || message.event !== 'appContext' || !message.data) return;
    show(message.data);
  }

  function contactIdOf(context) {
    var conversation = context.conversation || {};
    if (context.contact && context.contact.id != null) return context.contact.id;
    var sender = conversation.meta && conversation.meta.sender;
    return sender ? sender.id : null;
  }

  function sidebarSrc(conversationId, contactId) {
    return '/sidebar/chatwoot/' + encodeURIComponent(conversationId) +
      '?key=' + encodeURIComponent(key) + '&contact=' + encodeURIComponent(contactId);
  }

  function show(context) {
    var conversation = context.conversation || {};
    var contactId = contactIdOf(context);
    if (conversation.id == null || contactId == null) {
      setStatus(strings.open_conversation);
      return;
    }
    var src = sidebarSrc(conversation.id, contactId);
    if (src === shownSrc) return; // the same conversation: keep the page (and its scroll)
    shownSrc = src;
    var frame = element('journeydesk-frame', 'iframe');
    frame.title = strings.frame_title;
    frame.src = src;
    frame.hidden = false;
    setStatus('');
  }

  function askForContext() {
    window.parent.postMessage(FETCH_INFO, '*');
  }

  function start() {
    if (window.parent === window) {
      setStatus(strings.not_in_chatwoot);
      return;
    }
    if (!key) {
      setStatus(strings.no_key);
      return;
    }
    setStatus(strings.loading);
    window.addEventListener('message', onMessage);
    askForContext();
    setInterval(function () {
      if (document.visibilityState !== 'hidden') askForContext();
    }, REFRESH_MS);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
