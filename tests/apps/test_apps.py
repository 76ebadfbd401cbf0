"""The desk app packages under apps/ and their build (apps/build.py).

The vendors' CLIs cannot validate offline (zcli posts to a live account, fdk is not on npm), so
the manifests are checked here against the fields the vendors document, and the two browser
scripts are run under Node against fake hosts.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"
PUBLIC_URL = "https://journeydesk.acme.example/jd"  # with a path prefix: the harder case
VERSION = "9.9.9"
NODE = shutil.which("node")
# Skipped on a developer's machine without Node; in CI (.ci/run installs it) a missing Node
# fails these tests instead of silently skipping the desk scripts' behaviour.
needs_node = pytest.mark.skipif(
    NODE is None and os.environ.get("CI") != "true", reason="node is not installed"
)

EXPECTED_FILES = {
    "zendesk": {
        "README.md",
        "assets/logo-small.png",
        "assets/logo.png",
        "manifest.json",
        "translations/en.json",
        "translations/es.json",
    },
    "freshdesk": {
        "README.md",
        "app/index.html",
        "app/scripts/app.js",
        "app/styles/images/icon.svg",
        "app/styles/style.css",
        "config/iparams.json",
        "config/requests.json",
        "manifest.json",
    },
    "chatwoot": {"README.md", "dashboard.js"},
}


def _load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("journeydesk_apps_build", APPS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


build = _load_build()


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("apps")
    paths = build.build(PUBLIC_URL, out, version=VERSION)
    return {path.stem.removeprefix("journeydesk-"): path for path in paths}


@pytest.fixture(scope="module")
def packages(zips) -> dict[str, dict[str, bytes]]:
    result = {}
    for desk, path in zips.items():
        with zipfile.ZipFile(path) as zf:
            result[desk] = {name: zf.read(name) for name in zf.namelist()}
    return result


def _json(packages, desk: str, name: str) -> dict:
    return json.loads(packages[desk][name])


def _text(packages, desk: str, name: str) -> str:
    return packages[desk][name].decode("utf-8")


# ---------------------------------------------------------------- the build


@pytest.mark.parametrize("desk", sorted(EXPECTED_FILES))
def test_zip_holds_exactly_the_expected_files(zips, desk):
    with zipfile.ZipFile(zips[desk]) as zf:
        assert zf.testzip() is None
        infos = zf.infolist()
    assert {info.filename for info in infos} == EXPECTED_FILES[desk]
    for info in infos:
        assert not info.filename.startswith("/") and ".." not in info.filename.split("/")
        assert info.external_attr >> 16 == 0o644


def test_public_url_is_filled_in_and_no_placeholder_is_left(packages):
    for desk, files in packages.items():
        for name, data in files.items():
            if name.endswith(".png"):
                continue
            text = data.decode("utf-8")
            assert not build.PLACEHOLDER.search(text), f"{desk}/{name}"
            assert "{{PUBLIC_URL}}" not in text
    zendesk = _json(packages, "zendesk", "manifest.json")
    assert (
        zendesk["location"]["support"]["ticket_sidebar"]["url"] == f"{PUBLIC_URL}/zendesk/sidebar"
    )
    assert zendesk["version"] == VERSION
    assert zendesk["author"]["email"] == "support@journeydesk.acme.example"
    requests = _json(packages, "freshdesk", "config/requests.json")
    for template in requests.values():
        schema = template["schema"]
        assert (schema["protocol"], schema["host"]) == ("https", "journeydesk.acme.example")
        assert schema["path"].startswith("/jd/api/v1/")
    iparams = _json(packages, "freshdesk", "config/iparams.json")
    assert iparams["journeydesk_url"]["default_value"] == PUBLIC_URL
    assert f"var BUILT_URL = '{PUBLIC_URL}';" in _text(packages, "freshdesk", "app/scripts/app.js")
    assert f"{PUBLIC_URL}/chatwoot/app?key=" in _text(packages, "chatwoot", "README.md")
    # Freshworks' own placeholder is not ours to fill.
    assert '<script src="{{{appclient}}}"></script>' in _text(
        packages, "freshdesk", "app/index.html"
    )


def test_build_is_reproducible(tmp_path, zips):
    again = build.build(PUBLIC_URL, tmp_path, version=VERSION)
    for path in again:
        assert path.read_bytes() == zips[path.stem.removeprefix("journeydesk-")].read_bytes()


def test_command_line(tmp_path):
    out = tmp_path / "dist" / "apps"
    result = subprocess.run(
        [
            sys.executable,
            str(APPS / "build.py"),
            "--public-url",
            "https://jd.example/",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "journeydesk-chatwoot.zip",
        "journeydesk-freshdesk.zip",
        "journeydesk-zendesk.zip",
    ]
    with zipfile.ZipFile(out / "journeydesk-zendesk.zip") as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert (
        manifest["location"]["support"]["ticket_sidebar"]["url"]
        == "https://jd.example/zendesk/sidebar"
    )
    assert manifest["version"] == build.project_version()


@pytest.mark.parametrize(
    "url",
    [
        "http://journeydesk.acme.example",  # Zendesk loads only https
        "https://journeydesk.acme.example/?x=1",
        "https://journeydesk.acme.example/#top",
        "https://user@journeydesk.acme.example",
        "journeydesk.acme.example",
        "https://journeydesk.acme.example/it's",
        'https://journeydesk.acme.example/"x',
        "",
    ],
)
def test_bad_public_urls_are_refused_with_a_message(tmp_path, url):
    result = subprocess.run(
        [sys.executable, str(APPS / "build.py"), "--public-url", url, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--public-url" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["http://localhost:8000", "http://127.0.0.1:8000/"])
def test_local_http_is_allowed_for_development(url):
    assert build.parse_public_url(url).url == url.rstrip("/")


def test_a_leftover_placeholder_fails_the_build():
    with pytest.raises(build.BuildError, match="PUBLIC_URLS"):
        build.check_contents("x", {"a.json": b'{"u": "{{PUBLIC_URLS}}"}'})


# ---------------------------------------------------------------- Zendesk (ZAF v2)

ZAF_PARAMETER_TYPES = {
    "text",
    "password",
    "checkbox",
    "url",
    "number",
    "multiline",
    "hidden",
    "oauth",
}
ZAF_LOCALE_FILE = re.compile(r"translations/([a-z]{2}(?:-\w{2,3})?)\.json")  # as ZAT validates


def test_zendesk_manifest_has_the_documented_fields(packages):
    manifest = _json(packages, "zendesk", "manifest.json")
    assert isinstance(manifest["name"], str) and manifest["name"]
    author = manifest["author"]
    assert author["name"] and "@" in author["email"] and author["url"].startswith("https://")
    assert manifest["defaultLocale"] == "en"
    assert manifest["frameworkVersion"] == "2.0"
    assert manifest["signedUrls"] is True
    assert manifest["private"] is True
    assert isinstance(manifest["version"], str)
    sidebar = manifest["location"]["support"]["ticket_sidebar"]
    assert sidebar["url"].startswith("https://")  # absolute: a server-side app
    assert sidebar["flexible"] is True
    assert not set(manifest) - {
        "name", "author", "defaultLocale", "private", "version", "frameworkVersion",
        "signedUrls", "location", "parameters", "domainWhitelist", "singleInstall",
    }  # fmt: skip


def test_zendesk_parameters_are_valid_and_none_is_secret(packages):
    # None today: the server picks the connector by the JWT's issuer, so an admin has nothing
    # to set in Zendesk. Any parameter added later must be valid, and never a secret.
    parameters = _json(packages, "zendesk", "manifest.json").get("parameters", [])
    names = [p["name"] for p in parameters]
    assert len(names) == len(set(names)) and "name" not in names
    for parameter in parameters:
        assert parameter["type"] in ZAF_PARAMETER_TYPES
        assert parameter.get("required", False) in (True, False)
        assert parameter.get("secure", False) is False  # signed URLs: no secret in the app


def test_zendesk_translations(packages):
    manifest = _json(packages, "zendesk", "manifest.json")
    files = {n: d for n, d in packages["zendesk"].items() if n.startswith("translations/")}
    assert f"translations/{manifest['defaultLocale']}.json" in files
    english = json.loads(files["translations/en.json"])
    # Private apps need app.name; the Marketplace set is required for public ones: have all.
    for key in ("name", "short_description", "long_description", "installation_instructions"):
        assert isinstance(english["app"][key], str) and english["app"][key].strip()
    assert len(english["app"]["name"]) <= 40
    for name, data in files.items():
        assert ZAF_LOCALE_FILE.fullmatch(name), name
        translation = json.loads(data)
        assert _shape(translation) == _shape(english), f"{name} lacks keys that en.json has"
        for parameter in manifest.get("parameters", []):
            assert translation["app"]["parameters"][parameter["name"]]["label"]


def _shape(value):
    return {k: _shape(v) for k, v in value.items()} if isinstance(value, dict) else type(value)


@pytest.mark.parametrize(
    ("name", "size"), [("assets/logo.png", 320), ("assets/logo-small.png", 128)]
)
def test_zendesk_logos_are_valid_rgba_pngs_of_the_required_size(packages, name, size):
    width, height, color_type, pixels = _decode_png(packages["zendesk"][name])
    assert (width, height, color_type) == (size, size, 6)
    assert len(pixels) == height * (1 + 4 * width)


def _decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    stream, chunks = io.BytesIO(data[8:]), {}
    while header := stream.read(8):
        length, tag = struct.unpack(">I4s", header)
        body = stream.read(length)
        (crc,) = struct.unpack(">I", stream.read(4))
        assert crc == zlib.crc32(tag + body), tag
        chunks[tag] = chunks.get(tag, b"") + body
    assert list(chunks)[-1] == b"IEND"
    width, height, depth, color_type, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8
    return width, height, color_type, zlib.decompress(chunks[b"IDAT"])


# ---------------------------------------------------------------- Freshdesk (platform 3.0)


def test_freshdesk_manifest(packages):
    manifest = _json(packages, "freshdesk", "manifest.json")
    files = packages["freshdesk"]
    assert manifest["platform-version"] == "3.0"
    sidebar = manifest["modules"]["support_ticket"]["location"]["ticket_sidebar"]
    assert f"app/{sidebar['url']}" in files
    assert f"app/{sidebar['icon']}" in files
    assert sidebar["icon"].endswith(".svg")
    engines = manifest["engines"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", engines["node"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", engines["fdk"])


def test_freshdesk_request_templates_are_declared_defined_and_used(packages):
    manifest = _json(packages, "freshdesk", "manifest.json")
    requests = _json(packages, "freshdesk", "config/requests.json")
    declared = set(manifest["modules"]["common"]["requests"])
    used = set(
        re.findall(
            r"invokeTemplate\(\s*['\"](\w+)['\"]",
            _text(packages, "freshdesk", "app/scripts/app.js"),
        )
    )
    assert used, "app.js calls no request template"
    assert used <= declared, f"undeclared in manifest.json: {used - declared}"
    assert declared == set(requests), "manifest.json and config/requests.json disagree"
    assert used == declared, f"declared but never used: {declared - used}"


def test_freshdesk_request_templates_schema(packages):
    requests = _json(packages, "freshdesk", "config/requests.json")
    iparams = _json(packages, "freshdesk", "config/iparams.json")
    app_js = _text(packages, "freshdesk", "app/scripts/app.js")
    for name, template in requests.items():
        schema = template["schema"]
        assert schema["method"] in {"GET", "POST", "PUT", "PATCH", "DELETE"}, name
        assert schema["protocol"] in {"https", "http"}
        assert "/" not in schema["host"] and schema["path"].startswith("/")
        raw = json.dumps(template)
        for iparam in re.findall(r"iparam\.(\w+)", raw):
            assert iparam in iparams, f"{name} uses undefined iparam {iparam}"
        for key in re.findall(r"context\.(\w+)", raw):
            assert re.search(rf"\b{key}\s*:", app_js), f"app.js never passes context.{key}"
    token = requests["getAgentToken"]["schema"]
    assert token["path"].endswith("/api/v1/desk-token/freshdesk")
    assert "iparam.journeydesk_app_secret" in token["headers"]["Authorization"]
    check = requests["checkReply"]["schema"]
    assert check["path"].endswith("/api/v1/tickets/freshdesk/<%= context.ticket_id %>/check-reply")
    assert "iparam." not in json.dumps(check)  # the agent token, not the secret


def test_freshdesk_iparams_and_the_secret_stays_out_of_the_browser(packages):
    iparams = _json(packages, "freshdesk", "config/iparams.json")
    assert set(iparams) == {"journeydesk_url", "journeydesk_app_secret"}
    for name, iparam in iparams.items():
        assert iparam["display_name"] and iparam["type"] == "text", name
        assert iparam["required"] is True
    assert iparams["journeydesk_app_secret"]["secure"] is True
    assert iparams["journeydesk_url"].get("secure", False) is False
    secure = {name for name, iparam in iparams.items() if iparam.get("secure")}
    for name, data in packages["freshdesk"].items():
        if name.startswith("app/"):
            for secret in secure:
                assert secret not in data.decode("utf-8"), f"{name} mentions {secret}"


def test_freshdesk_page_wires_its_script_styles_and_elements(packages):
    page = _text(packages, "freshdesk", "app/index.html")
    files = packages["freshdesk"]
    for ref in re.findall(r'(?:src|href)="([^"{]+)"', page):
        assert f"app/{ref}" in files, ref
    ids = set(re.findall(r'id="([\w-]+)"', page))
    used = set(
        re.findall(r"byId\('([\w-]+)'\)", _text(packages, "freshdesk", "app/scripts/app.js"))
    )
    assert used and used <= ids, f"app.js looks up missing elements: {used - ids}"


# ---------------------------------------------------------------- JavaScript


def _js_files(packages) -> list[tuple[str, str]]:
    return [
        (f"{desk}/{name}", data.decode("utf-8"))
        for desk, files in sorted(packages.items())
        for name, data in sorted(files.items())
        if name.endswith(".js")
    ]


def test_scripts_stick_to_es2017(packages):
    # Optional chaining, ??, Promise#finally and async iteration came after ES2017.
    newer = re.compile(r"\?\.[A-Za-z_$\[(]|\?\?|\.finally\(|for\s+await")
    for name, source in _js_files(packages):
        assert not newer.search(source), name


@needs_node
def test_every_script_parses(packages, tmp_path):
    assert NODE, "CI needs Node for the desk scripts' tests: apt-get install nodejs"
    for name, source in _js_files(packages):
        path = tmp_path / name.replace("/", "__")
        path.write_text(source, encoding="utf-8")
        result = subprocess.run(
            [NODE, "--check", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"


# Fake hosts for the two browser scripts: a tiny DOM, a Freshworks client and Chatwoot's
# parent window. Each scenario loads the script fresh in its own vm context and asserts.
HARNESS = r"""
const assert = require('assert');
const fs = require('fs');
const vm = require('vm');
const [, , scriptPath, scenario, pageIds] = process.argv;
const source = fs.readFileSync(scriptPath, 'utf8');
const tick = async (n = 30) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};
// Objects made inside the vm context have that realm's prototypes: compare them as JSON.
const same = (actual, expected) =>
  assert.deepStrictEqual(JSON.parse(JSON.stringify(actual)), expected);

function makeDocument(ids) {
  const byId = {};
  const make = (tag) => {
    let src = '';
    let text = '';
    const el = {
      tagName: tag, hidden: false, disabled: false, children: [], listeners: {}, srcHistory: [],
      appendChild(child) { this.children.push(child); if (child.id) byId[child.id] = child; },
      addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); },
      click() { (this.listeners.click || []).forEach((fn) => fn({})); },
    };
    Object.defineProperty(el, 'src', {
      get: () => src, set: (v) => { src = v; el.srcHistory.push(v); },
    });
    Object.defineProperty(el, 'textContent', {
      get: () => text, set: (v) => { text = String(v); if (text === '') el.children = []; },
    });
    return el;
  };
  for (const id of ids) { byId[id] = make('div'); byId[id].id = id; }
  return {
    readyState: 'complete', visibilityState: 'visible', body: make('body'),
    getElementById: (id) => byId[id] || null,
    createElement: make,
    addEventListener() {},
  };
}

function makeTimers() {
  const timers = new Map();
  let next = 1;
  return {
    setTimeout(fn, ms) { timers.set(next, { fn, ms }); return next++; },
    clearTimeout(id) { timers.delete(id); },
    setInterval(fn, ms) { timers.set(next, { fn, ms, repeat: true }); return next++; },
    fire() { for (const [id, t] of [...timers]) { if (!t.repeat) timers.delete(id); t.fn(); } },
    pending: () => timers.size,
  };
}

// ------------------------------------------------------------------ Freshdesk app.js

function freshdesk(options = {}) {
  const calls = { templates: [], notify: [], done: 0, fail: [] };
  const handlers = {};
  const warnings = options.warnings || (() => []);
  let tokens = 0;
  const templates = Object.assign({
    getAgentToken: async () => ({
      response: JSON.stringify({ token: 'tok' + (++tokens), expires_in: 900 }),
    }),
    checkReply: async (args) => ({ response: JSON.stringify({ warnings: warnings(args) }) }),
  }, options.templates || {});
  const client = {
    events: { on(name, fn, opts) { handlers[name] = { fn, opts }; } },
    data: {
      async get(what) {
        if (what === 'ticket') return { ticket: { id: 123, subject: 'Export' } };
        if (what === 'loggedInUser') {
          return { loggedInUser: { contact: { language: options.language || 'es' } } };
        }
        throw new Error('unexpected data.get ' + what);
      },
    },
    iparams: { async get() { return options.iparams || { journeydesk_url: BUILT + '/' }; } },
    request: {
      async invokeTemplate(name, args) {
        calls.templates.push({ name, args });
        return templates[name](args, calls);
      },
    },
    interface: { async trigger(name, args) { calls.notify.push({ name, args }); } },
    instance: { resize() { return Promise.resolve(); } },
  };
  const document = makeDocument(JSON.parse(pageIds));
  const timers = makeTimers();
  const logs = [];
  const context = vm.createContext({
    app: { initialized: () => Promise.resolve(client) }, document, JSON, Promise, Date,
    navigator: { language: 'en-US' },
    setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout,
    console: { warn: (...a) => logs.push(a.join(' ')), log() {}, error() {} },
  });
  vm.runInContext(source, context);
  const send = async (data) => {
    const before = { done: calls.done, fail: calls.fail.length };
    const helper = {
      getData: () => data,
      done: () => { calls.done++; },
      fail: (m) => { calls.fail.push(m); },
    };
    handlers['ticket.sendReply'].fn({ helper });
    await tick();
    const outcome = () => {
      if (calls.done > before.done) return 'done';
      return calls.fail.length > before.fail ? 'fail' : 'pending';
    };
    return { outcome };
  };
  return { calls, handlers, document, timers, logs, send };
}

const BUILT = (source.match(/var BUILT_URL = '([^']+)'/) || [])[1];
const READ = [
  {
    article_id: '4410', title: 'Reset your password', message: 'Read 3 times, last 2 days ago',
    url: 'https://acme.zendesk.com/hc/en-us/articles/4410',
    alternatives: [
      { title: 'Two-factor setup', url: 'https://acme.zendesk.com/hc/en-us/articles/4411' },
      { title: 'Not a link', url: 'javascript:alert(1)' },
    ],
  },
];
const templateCalls = (fd, name) => fd.calls.templates.filter((c) => c.name === name);

const scenarios = {
  async 'freshdesk: registers an intercepting sendReply handler and shows the sidebar'() {
    const fd = freshdesk();
    await tick();
    same(fd.handlers['ticket.sendReply'].opts, { intercept: true });
    const frame = fd.document.getElementById('jd-frame');
    assert.strictEqual(frame.src, BUILT + '/sidebar/freshdesk/123?token=tok1&lang=es');
    assert.strictEqual(frame.hidden, false);
    same(JSON.parse(fd.calls.templates[0].args.body), { ticket_id: '123' });
  },
  async 'freshdesk: a reply without already-read links goes out'() {
    const fd = freshdesk();
    await tick();
    const draft = '<p>Hi! <a href="https://acme.example/x">x</a></p>';
    const sent = await fd.send({ body: draft });
    assert.strictEqual(sent.outcome(), 'done');
    const [check] = templateCalls(fd, 'checkReply');
    same(check.args.context, { ticket_id: '123', token: 'tok1', lang: 'es' });
    same(JSON.parse(check.args.body), { body: draft });
    assert.strictEqual(templateCalls(fd, 'getAgentToken').length, 1); // reused, not re-minted
  },
  async 'freshdesk: already-read articles block the reply until the agent confirms, once'() {
    const fd = freshdesk({ warnings: () => READ });
    await tick();
    const first = await fd.send({ body: 'see https://acme.zendesk.com/hc/en-us/articles/4410' });
    assert.strictEqual(first.outcome(), 'fail');
    // the agent's Freshdesk language is Spanish here: the panel speaks it
    assert.match(fd.calls.fail[0], /^El cliente ya leyó "Reset your password"\. Para enviarla/);
    assert.strictEqual(fd.document.getElementById('jd-send-anyway').textContent,
      'Enviar igualmente');
    assert.strictEqual(fd.document.getElementById('jd-warnings').hidden, false);
    const [item] = fd.document.getElementById('jd-warning-list').children;
    const [title, message, alternatives] = item.children;
    assert.strictEqual(title.textContent, 'Reset your password');
    assert.strictEqual(title.href, READ[0].url);
    assert.strictEqual(message.textContent, 'Read 3 times, last 2 days ago');
    const [label, list] = alternatives.children;
    assert.strictEqual(label.textContent, 'Sin leer en la misma sección:');
    const links = list.children.map((li) => li.children[0]);
    same(links.map((a) => a.textContent), ['Two-factor setup', 'Not a link']);
    same(links.map((a) => a.href), [READ[0].alternatives[0].url, null]); // no javascript: link
    assert.strictEqual(fd.calls.notify[0].name, 'showNotify');
    assert.strictEqual(fd.calls.notify[0].args.type, 'warning');
    fd.document.getElementById('jd-send-anyway').click();
    assert.strictEqual(fd.document.getElementById('jd-confirmed').hidden, false);
    assert.strictEqual((await fd.send({ body: 'see it' })).outcome(), 'done');
    assert.strictEqual(fd.document.getElementById('jd-warnings').hidden, true);
    assert.strictEqual((await fd.send({ body: 'see it again' })).outcome(), 'fail');
  },
  async 'freshdesk: an English agent reads English and journeydesk is asked in English'() {
    const fd = freshdesk({ warnings: () => READ, language: 'en' });
    await tick();
    await fd.send({ body: 'x' });
    assert.match(fd.calls.fail[0], /^Customer already read "Reset your password"\. To send/);
    assert.strictEqual(templateCalls(fd, 'checkReply')[0].args.context.lang, 'en');
    assert.match(fd.document.getElementById('jd-frame').src, /&lang=en$/);
  },
  async 'freshdesk: a confirmation does not cover a different article'() {
    let read = READ;
    const fd = freshdesk({ warnings: () => read });
    await tick();
    await fd.send({ body: 'a' });
    fd.document.getElementById('jd-send-anyway').click();
    read = READ.concat([{ article_id: '77', title: 'Billing' }]);
    const second = await fd.send({ body: 'a and b' });
    assert.strictEqual(second.outcome(), 'fail');
    assert.match(fd.calls.fail[1], /"Reset your password", "Billing"/);
  },
  async 'freshdesk: the draft may sit in body_text or under data'() {
    const fd = freshdesk();
    await tick();
    await fd.send({ body_text: 'plain https://x.example/hc/articles/1' });
    await fd.send({ data: { body: '<b>nested</b>' } });
    const bodies = templateCalls(fd, 'checkReply').map((c) => JSON.parse(c.args.body).body);
    same(bodies, ['plain https://x.example/hc/articles/1', '<b>nested</b>']);
    assert.strictEqual((await fd.send({})).outcome(), 'done'); // no draft found: nothing to check
    assert.strictEqual(templateCalls(fd, 'checkReply').length, 2);
  },
  async 'freshdesk: an unreachable journeydesk lets the reply go'() {
    const fd = freshdesk({ templates: { checkReply: async () => { throw { status: 502 }; } } });
    await tick();
    assert.strictEqual((await fd.send({ body: 'x' })).outcome(), 'done');
    assert.ok(fd.logs.some((l) => l.includes('letting it go')));
  },
  async 'freshdesk: a slow check times out and lets the reply go'() {
    const fd = freshdesk({ templates: { checkReply: () => new Promise(() => {}) } });
    await tick();
    const sent = await fd.send({ body: 'x' });
    assert.strictEqual(sent.outcome(), 'pending');
    fd.timers.fire();
    await tick();
    assert.strictEqual(sent.outcome(), 'done');
  },
  async 'freshdesk: a rejected token is renewed once'() {
    let attempts = 0;
    const fd = freshdesk({
      templates: {
        checkReply: async (args) => {
          attempts++;
          if (args.context.token === 'tok1') throw { status: 401 };
          return { response: JSON.stringify({ warnings: [] }) };
        },
      },
    });
    await tick();
    assert.strictEqual((await fd.send({ body: 'x' })).outcome(), 'done');
    assert.strictEqual(attempts, 2);
    assert.strictEqual(templateCalls(fd, 'getAgentToken').length, 2);
  },
  async 'freshdesk: a journeydesk_url of another server is refused'() {
    const fd = freshdesk({ iparams: { journeydesk_url: 'https://elsewhere.example' } });
    await tick();
    assert.strictEqual(fd.document.getElementById('jd-frame').src, '');
    assert.match(fd.document.getElementById('jd-status').textContent, /built for .*Rebuild/);
  },
};

// ------------------------------------------------------------------ Chatwoot dashboard.js

function chatwoot(search) {
  const listeners = [];
  const parent = {
    posted: [],
    postMessage(message, origin) { this.posted.push([message, origin]); },
  };
  const window = {
    parent, location: { search },
    addEventListener(type, fn) { if (type === 'message') listeners.push(fn); },
  };
  const document = makeDocument([]);
  const timers = makeTimers();
  vm.runInContext(source, vm.createContext({
    window, document, JSON, URLSearchParams, setInterval: timers.setInterval, console,
  }));
  const deliver = (data, from = parent) => listeners.forEach((fn) => fn({ data, source: from }));
  const frame = () => document.getElementById('journeydesk-frame');
  const status = () => (document.getElementById('journeydesk-status') || {}).textContent;
  return { parent, listeners, document, timers, deliver, frame, status };
}

const context = (conversation, contact) =>
  JSON.stringify({ event: 'appContext', data: { conversation, contact } });

Object.assign(scenarios, {
  async 'chatwoot: asks for the context, then shows the conversation'() {
    const cw = chatwoot('?key=k%201');
    same(cw.parent.posted, [['chatwoot-dashboard-app:fetch-info', '*']]);
    cw.deliver(context({ id: 42, meta: { sender: { id: 7 } } }, { id: 7, name: 'Ana' }));
    assert.strictEqual(cw.frame().src, '/sidebar/chatwoot/42?key=k%201&contact=7');
    assert.strictEqual(cw.frame().hidden, false);
  },
  async 'chatwoot: ignores non-JSON, other events and other windows'() {
    const cw = chatwoot('?key=k');
    cw.deliver('not json');
    // not a string:
    cw.deliver({ event: 'appContext', data: { conversation: { id: 1 }, contact: { id: 2 } } });
    cw.deliver(JSON.stringify({ event: 'somethingElse', data: {} }));
    cw.deliver(context({ id: 9 }, { id: 9 }), { postMessage() {} }); // not our parent
    assert.strictEqual(cw.frame(), null);
  },
  async 'chatwoot: falls back to the conversation sender and follows conversation changes'() {
    const cw = chatwoot('?key=k');
    cw.deliver(context({ id: 42, meta: { sender: { id: 7 } } }, undefined));
    assert.strictEqual(cw.frame().src, '/sidebar/chatwoot/42?key=k&contact=7');
    cw.deliver(context({ id: 42, meta: { sender: { id: 7 } } }, { id: 7 }));
    assert.strictEqual(cw.frame().srcHistory.length, 1); // same conversation: no reload
    cw.timers.fire(); // the periodic re-ask
    assert.strictEqual(cw.parent.posted.length, 2);
    cw.deliver(context({ id: 43, meta: { sender: { id: 8 } } }, { id: 8 }));
    assert.strictEqual(cw.frame().src, '/sidebar/chatwoot/43?key=k&contact=8');
  },
  async 'chatwoot: without a conversation it says so'() {
    const cw = chatwoot('?key=k');
    cw.deliver(context({}, null));
    assert.strictEqual(cw.frame(), null);
    assert.match(cw.status(), /Open a conversation/);
  },
  async 'chatwoot: without a key it explains and does not listen'() {
    const cw = chatwoot('');
    assert.strictEqual(cw.listeners.length, 0);
    same(cw.parent.posted, []);
    assert.match(cw.status(), /no \?key=/);
  },
});

scenarios[scenario]().then(
  () => process.exit(0),
  (err) => { console.error(err && err.stack || err); process.exit(1); },
);
"""

FRESHDESK_SCENARIOS = [
    "registers an intercepting sendReply handler and shows the sidebar",
    "a reply without already-read links goes out",
    "already-read articles block the reply until the agent confirms, once",
    "an English agent reads English and journeydesk is asked in English",
    "a confirmation does not cover a different article",
    "the draft may sit in body_text or under data",
    "an unreachable journeydesk lets the reply go",
    "a slow check times out and lets the reply go",
    "a rejected token is renewed once",
    "a journeydesk_url of another server is refused",
]
CHATWOOT_SCENARIOS = [
    "asks for the context, then shows the conversation",
    "ignores non-JSON, other events and other windows",
    "falls back to the conversation sender and follows conversation changes",
    "without a conversation it says so",
    "without a key it explains and does not listen",
]


@pytest.fixture(scope="module")
def harness(packages, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("js")
    (root / "harness.js").write_text(HARNESS, encoding="utf-8")
    paths = {"harness": root / "harness.js"}
    for desk, name in (("freshdesk", "app/scripts/app.js"), ("chatwoot", "dashboard.js")):
        paths[desk] = root / f"{desk}.js"
        paths[desk].write_bytes(packages[desk][name])
    return paths


def _run_scenario(harness, desk: str, scenario: str, page_ids: list[str]) -> None:
    assert NODE, "CI needs Node for the desk scripts' tests: apt-get install nodejs"
    result = subprocess.run(
        [
            NODE,
            str(harness["harness"]),
            str(harness[desk]),
            f"{desk}: {scenario}",
            json.dumps(page_ids),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr or result.stdout


@needs_node
@pytest.mark.parametrize("scenario", FRESHDESK_SCENARIOS)
def test_freshdesk_app_behaviour(harness, packages, scenario):
    page_ids = re.findall(r'id="([\w-]+)"', _text(packages, "freshdesk", "app/index.html"))
    _run_scenario(harness, "freshdesk", scenario, page_ids)


@needs_node
@pytest.mark.parametrize("scenario", CHATWOOT_SCENARIOS)
def test_chatwoot_dashboard_behaviour(harness, scenario):
    _run_scenario(harness, "chatwoot", scenario, [])
