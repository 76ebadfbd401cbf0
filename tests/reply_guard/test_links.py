"""The already-read guard's URL extraction: real-world forms, HTML, prose, no false positives."""

from __future__ import annotations

import html
import time
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from plugin.reply_guard.links import ArticleLink, extract_article_links

ZD = "https://acme.zendesk.com"
FD = "https://acme.freshdesk.com"
HC = "https://help.acme.example"  # a custom help-center domain
CW = "https://www.chatwoot.com"

# (url, desk, article_id, slug, locale)
# fmt: off
URL_FORMS = [
    # Zendesk Guide, public pages
    (f"{ZD}/hc/en-us/articles/360001234567-How-to-export", "zendesk", "360001234567",
     "How-to-export", "en-us"),
    (f"{ZD}/hc/en-us/articles/360001234567", "zendesk", "360001234567", None, "en-us"),
    (f"{ZD}/hc/articles/360001234567", "zendesk", "360001234567", None, None),
    (f"{ZD}/hc/es/articles/360001234567-C%C3%B3mo-exportar", "zendesk", "360001234567",
     "Cómo-exportar", "es"),
    (f"{ZD}/hc/pt-br/articles/4410-Exportar/", "zendesk", "4410", "Exportar", "pt-br"),
    (f"{ZD}/hc/es-419/articles/4410-x", "zendesk", "4410", "x", "es-419"),
    ("https://ACME.ZENDESK.COM/hc/en-us/articles/4410-x", "zendesk", "4410", "x", "en-us"),
    ("https://acme.zendesk.com:443/hc/en-us/articles/4410-x", "zendesk", "4410", "x", "en-us"),
    ("http://acme.zendesk.com/HC/EN-US/ARTICLES/4410-X", "zendesk", "4410", "X", "EN-US"),
    (f"{ZD}/hc/en-us/articles/4410-x?utm_source=news&utm_medium=email", "zendesk", "4410", "x",
     "en-us"),
    (f"{ZD}/hc/en-us/articles/4410-x#h_01HABCDEF", "zendesk", "4410", "x", "en-us"),
    (f"{ZD}/hc/en-us/articles/4410-x/?page=2#comments", "zendesk", "4410", "x", "en-us"),
    (f"{ZD}/hc/en-us/articles/4410-x/comments/998877", "zendesk", "4410", "x", "en-us"),
    (f"{ZD}/hc/fr/articles/4410-%C3%A9t%C3%A9", "zendesk", "4410", "été", "fr"),
    # Zendesk on a custom (host-mapped) domain: the locale-shaped segment decides
    (f"{HC}/hc/en-us/articles/4410-Reset-password", "zendesk", "4410", "Reset-password", "en-us"),
    (f"{HC}/hc/de/articles/4410", "zendesk", "4410", None, "de"),
    (f"{HC}/hc/articles/4410-x", "zendesk", "4410", "x", None),
    # Zendesk API and agent UI
    (f"{ZD}/api/v2/help_center/articles/4410.json", "zendesk", "4410", None, None),
    (f"{ZD}/api/v2/help_center/en-us/articles/4410.json", "zendesk", "4410", None, "en-us"),
    (f"{ZD}/api/v2/help_center/en-us/articles/4410", "zendesk", "4410", None, "en-us"),
    (f"{ZD}/knowledge/articles/4410/en-us?brand_id=1", "zendesk", "4410", None, "en-us"),
    # Freshdesk
    (f"{FD}/support/solutions/articles/50000000978-authenticating-users", "freshdesk",
     "50000000978", "authenticating-users", None),
    (f"{FD}/support/solutions/articles/50000000978", "freshdesk", "50000000978", None, None),
    ("https://support.freshdesk.com/en/support/solutions/articles/50000000978-x", "freshdesk",
     "50000000978", "x", "en"),
    (f"{HC}/pt-BR/support/solutions/articles/37626-understanding-sla", "freshdesk", "37626",
     "understanding-sla", "pt-BR"),
    (f"{FD}/a/solutions/articles/50000000978?lang=en", "freshdesk", "50000000978", None, None),
    (f"{FD}/a/solutions/articles/50000000978/edit", "freshdesk", "50000000978", None, None),
    ("https://ACME.freshdesk.com/support/solutions/articles/37626-x/?utm_campaign=a#top",
     "freshdesk", "37626", "x", None),
    # Chatwoot: slugs, not ids
    (f"{CW}/hc/user-guide/articles/1677691702-how-to-use-dashboard-apps", "chatwoot", None,
     "1677691702-how-to-use-dashboard-apps", None),
    (f"{HC}/hc/docs/articles/1700000000-reset-password", "chatwoot", None,
     "1700000000-reset-password", None),
    (f"{HC}/hc/faq/articles/getting-started", "chatwoot", None, "getting-started", None),
    (f"{HC}/hc/acme-help/es/articles/1700000000-restablecer", "chatwoot", None,
     "1700000000-restablecer", "es"),
    ("https://app.chatwoot.com/hc/en-us/articles/1700000000-x", "chatwoot", None,
     "1700000000-x", None),
    (f"{HC}/hc/kb/articles/1700000000-x.md", "chatwoot", None, "1700000000-x", None),
    (f"{HC}/hc/kb/articles/c%C3%B3mo-empezar?x=1", "chatwoot", None, "cómo-empezar", None),
]
# fmt: on


def _row_id(row: tuple) -> str:
    return row[0].split("://", 1)[1][:70]


@pytest.mark.parametrize(
    ("url", "desk", "article_id", "slug", "locale"),
    URL_FORMS,
    ids=[_row_id(row) for row in URL_FORMS],
)
def test_url_forms(
    url: str, desk: str, article_id: str | None, slug: str | None, locale: str | None
):
    assert extract_article_links(url) == [ArticleLink(url, desk, article_id, slug, locale)]


NOT_ARTICLES = [
    "https://acme.zendesk.com/hc/en-us/sections/360000123-Billing",
    "https://acme.zendesk.com/hc/en-us/categories/360000123-Billing",
    "https://acme.zendesk.com/hc/en-us/requests/123",
    "https://acme.zendesk.com/hc/en-us/community/posts/360012345-Feature-request",
    "https://acme.zendesk.com/hc/en-us/articles",
    "https://acme.zendesk.com/hc/en-us/articles/",
    "https://acme.zendesk.com/hc/en-us/articles/123abc-x",  # not an id, and the host says Zendesk
    "https://acme.zendesk.com/hc/en-us/articles/123-x/subscription",
    "https://acme.zendesk.com/hc/en-us/search?query=articles/123",
    "https://acme.zendesk.com/api/v2/help_center/articles/123/attachments",
    "https://acme.zendesk.com/api/v2/help_center/sections/123/articles",
    "https://acme.freshdesk.com/support/solutions/folders/50000123",
    "https://acme.freshdesk.com/support/solutions/50000123",
    "https://acme.freshdesk.com/support/solutions/articles/abc-x",
    "https://acme.freshdesk.com/support/tickets/123",
    "https://help.acme.example/hc/acme-help/en/categories/billing",
    "https://help.acme.example/hc/acme-help/en/articles",
    "https://help.acme.example/hc/kb/articles/1700000000-x.png",  # view-count pixel
    "https://blog.example.com/articles/123-our-new-office",  # not a configured help center
    "https://blog.example.com/2024/articles/123",
    "https://example.com/articles/hc/en-us/123",
    "https://example.com/knowledge/articles/123/en-us",  # agent UI form off Zendesk
    "ftp://acme.zendesk.com/hc/en-us/articles/123-x",
    "acme.zendesk.com/hc/en-us/articles/123-x",  # no scheme: not a link in an email
    "Article 360001234567 in section /hc/en-us/articles explains it",
]


@pytest.mark.parametrize("text", NOT_ARTICLES)
def test_no_false_positives(text: str):
    assert extract_article_links(text) == []


def test_an_id_is_never_cut_out_of_a_longer_number():
    links = extract_article_links(
        "https://acme.zendesk.com/hc/en-us/articles/3600012345 and "
        "https://acme.freshdesk.com/support/solutions/articles/50000000978999"
    )
    assert [link.article_id for link in links] == ["3600012345", "50000000978999"]


def test_html_anchors_entities_and_quoting():
    draft = (
        '<p>Hi Ana,</p><p>Try <a href="https://acme.zendesk.com/hc/en-us/articles/1-One?a=1&amp;'
        'utm_source=x" target="_blank">this guide</a>, '
        "<a href='https://acme.zendesk.com/hc/en-us/articles/2-Two'>that one</a>, "
        "<A HREF=https://acme.zendesk.com/hc/en-us/articles/3-Three>a third</A>, "
        '<a href="https:&#x2F;&#x2F;acme.zendesk.com&#47;hc/en-us/articles/4-Four">fourth</a> and '
        '<a class="x" href="https://acme.freshdesk.com/support/solutions/articles/5-Five">'
        "https://acme.freshdesk.com/support/solutions/articles/5-Five</a>.</p>"
    )
    links = extract_article_links(draft)
    assert [(link.desk, link.article_id) for link in links] == [
        ("zendesk", "1"),
        ("zendesk", "2"),
        ("zendesk", "3"),
        ("zendesk", "4"),
        ("freshdesk", "5"),
    ]
    assert links[0].url == "https://acme.zendesk.com/hc/en-us/articles/1-One?a=1&utm_source=x"


def test_html_with_nbsp_and_entities_around_a_plain_url():
    draft = "See&nbsp;https://acme.zendesk.com/hc/en-us/articles/7-Seven&nbsp;&mdash; thanks"
    assert [link.article_id for link in extract_article_links(draft)] == ["7"]


@pytest.mark.parametrize(
    "template",
    [
        "See {url}.",
        "See {url}, then reply.",
        "({url})",
        "[guide]({url})",
        "Did you read {url}?",
        "Did you read {url}?!",
        "Steps: {url}; then {url}:",
        "'{url}'",
        '"{url}"',
        "«{url}»",
        "“{url}”",
        "<{url}>",
        "**{url}**",
        "{url}…",
        "请看{url}。",
        "line one\n{url}\nline three",
    ],
)
def test_plain_text_punctuation_is_not_part_of_the_url(template: str):
    url = "https://acme.zendesk.com/hc/en-us/articles/360001234567-How-to-export"
    links = extract_article_links(template.format(url=url))
    assert links == [ArticleLink(url, "zendesk", "360001234567", "How-to-export", "en-us")]


def test_chatwoot_slug_keeps_its_last_character_before_punctuation():
    url = "https://help.acme.example/hc/docs/articles/1700000000-reset-your-password"
    assert extract_article_links(f"Here: {url}.")[0].slug == "1700000000-reset-your-password"


def test_deduplicated_by_desk_and_article_in_order_of_first_appearance():
    draft = (
        "https://acme.zendesk.com/hc/es/articles/22-b "
        "https://acme.zendesk.com/hc/en-us/articles/11-a "
        "https://acme.zendesk.com/hc/en-us/articles/22-B-in-english "
        "https://acme.zendesk.com/hc/articles/011 "  # leading zero: the same article 11
        "https://acme.freshdesk.com/support/solutions/articles/22-b "  # another desk
        "https://help.acme.example/hc/docs/articles/22-b "  # Chatwoot slug "22-b"
        "https://help.acme.example/hc/docs/es/articles/22-b"
    )
    links = extract_article_links(draft)
    assert [link.key for link in links] == [
        ("zendesk", "22"),
        ("zendesk", "11"),
        ("freshdesk", "22"),
        ("chatwoot", "22-b"),
    ]
    assert links[0].locale == "es"  # the first appearance wins


def test_redirect_wrapped_links_are_unwrapped():
    safelink = (
        "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Facme.zendesk.com"
        "%2Fhc%2Fen-us%2Farticles%2F4410-x%3Futm_source%3Dy&data=05%7C01&reserved=0"
    )
    google = "https://www.google.com/url?q=https://acme.freshdesk.com/support/solutions/articles/9-x&sa=D"
    links = extract_article_links(f"{safelink} {google}")
    assert [(link.desk, link.article_id) for link in links] == [
        ("zendesk", "4410"),
        ("freshdesk", "9"),
    ]
    assert links[0].url == "https://acme.zendesk.com/hc/en-us/articles/4410-x?utm_source=y"


@pytest.mark.parametrize(
    ("url", "domains", "expected"),
    [
        (
            "https://help.acme.example/articles/55-reset",
            ["help.acme.example"],
            ("55", "reset", None),
        ),
        (
            "https://HELP.acme.example/es/articles/55-x/",
            ["https://help.acme.example/"],
            ("55", "x", "es"),
        ),
        ("https://acme.example/help/articles/55", ["acme.example"], ("55", None, None)),
        (
            "https://kb.acme.example/articles/reset-password",
            ["*.acme.example"],
            (None, "reset-password", None),
        ),
        (
            "https://help.acme.example:8443/articles/55-x?utm_source=a",
            ["help.acme.example:8443"],
            ("55", "x", None),
        ),
    ],
)
def test_help_center_domains_allow_unprefixed_paths(url, domains, expected):
    assert extract_article_links(url) == []  # not without the configuration
    (link,) = extract_article_links(url, help_center_domains=domains)
    assert (link.desk, link.article_id, link.slug, link.locale) == ("portal", *expected)


def test_help_center_domains_do_not_override_known_shapes():
    url = "https://help.acme.example/hc/en-us/articles/4410-x"
    (link,) = extract_article_links(url, help_center_domains=["help.acme.example"])
    assert (link.desk, link.article_id) == ("zendesk", "4410")


def test_wildcard_domain_does_not_match_lookalike_hosts():
    url = "https://evilacme.example/articles/55-x"
    assert extract_article_links(url, help_center_domains=["*.acme.example"]) == []


@pytest.mark.parametrize("draft", ["", "no links here", "http://", "https://", "<a href=>x</a>"])
def test_empty_and_degenerate_drafts(draft: str):
    assert extract_article_links(draft) == []


# ---------------------------------------------------------------- speed and robustness


def _ten_kb_draft_with_twenty_links() -> str:
    filler = "Thanks for reaching out about the export, here is what to try next. " * 7
    parts = []
    for i in range(10):
        parts.append(
            f'<p>{filler}<a href="https://acme.zendesk.com/hc/en-us/articles/{360000 + i}-Guide-{i}'
            f'?utm_source=x&amp;utm_medium=y">guide</a></p>'
        )
        parts.append(
            f"<p>{filler} https://acme.freshdesk.com/support/solutions/articles/{i}-x.</p>"
        )
    return "".join(parts)


def test_a_10kb_draft_with_20_links_is_fast():
    draft = _ten_kb_draft_with_twenty_links()
    assert len(draft) >= 10_000
    assert len(extract_article_links(draft)) == 20
    runs = 50
    best = min(_timed(lambda: extract_article_links(draft), runs) for _ in range(5))
    # ~0.2 ms on the 2-core CI machines; the bound leaves room for a loaded runner.
    assert best < 0.002, f"{best * 1e3:.2f} ms per draft"


def _timed(fn, runs: int) -> float:
    start = time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - start) / runs


@pytest.mark.parametrize(
    "draft",
    [
        "https://" + "/" * 100_000,
        "http://a/" + "articles/" * 20_000,
        "https://a/hc/" + "x/" * 30_000 + "articles/1",
        "https://a/hc/" + "en-us/articles/" * 10_000,
        "&#" * 50_000,
        "http" * 50_000,
        "https://x/?" + "u=http&" * 20_000,
        "https://a/articles/" + "9" * 10_000,  # more digits than int() accepts
        "<a href=" * 20_000,
    ],
    ids=lambda d: repr(d[:24]),
)
def test_pathological_input_stays_linear(draft: str):
    start = time.perf_counter()
    extract_article_links(draft, help_center_domains=["a"])
    assert time.perf_counter() - start < 0.5


# ---------------------------------------------------------------- properties

_LOCALES = ["en", "en-us", "en-gb", "es", "es-419", "pt-br", "pt-BR", "fr-ca", "de", "ja", "zh-tw"]
_ids = st.from_regex(r"[1-9][0-9]{0,14}", fullmatch=True)
_slug_words = st.from_regex(r"[A-Za-z0-9]{1,10}", fullmatch=True)
_slugs = st.lists(
    _slug_words | st.sampled_from(["cómo", "été", "数据"]), min_size=1, max_size=5
).map(lambda words: quote("-".join(words)))
_labels = st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True)
_custom_hosts = st.builds(
    lambda a, b, tld: f"{a}.{b}.{tld}", _labels, _labels, st.sampled_from(["com", "example", "io"])
)
_hosts = _custom_hosts | _labels.map(lambda sub: f"{sub}.zendesk.com")
_queries = st.lists(
    st.tuples(
        st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "ref", "lang", "page"]),
        st.from_regex(r"[A-Za-z0-9_.%-]{0,12}", fullmatch=True),
    ),
    max_size=4,
).map(lambda pairs: "?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else "")
_fragments = st.from_regex(r"(#[A-Za-z0-9_-]{1,12})?", fullmatch=True)
# Chatwoot portal slugs that cannot pass for a Zendesk locale.
_portals = st.from_regex(r"[a-z]{3,8}(-[a-z]{3,8})?", fullmatch=True)
_chatwoot_slugs = st.from_regex(r"([0-9]{10}-)?[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True)


@st.composite
def article_urls(draw) -> tuple[str, str, str]:
    """(url, desk, expected key) in any supported form."""
    host = draw(_hosts)
    article_id, slug, locale = draw(_ids), draw(_slugs), draw(st.sampled_from(_LOCALES))
    form = draw(st.integers(0, 8))
    id_slug = f"{article_id}-{slug}" if draw(st.booleans()) else article_id
    paths = {
        0: ("zendesk", f"/hc/{locale}/articles/{id_slug}"),
        1: ("zendesk", f"/hc/articles/{article_id}"),
        2: ("zendesk", f"/api/v2/help_center/{locale}/articles/{article_id}.json"),
        3: ("zendesk", f"/api/v2/help_center/articles/{article_id}"),
        4: ("freshdesk", f"/support/solutions/articles/{id_slug}"),
        5: ("freshdesk", f"/{locale}/support/solutions/articles/{id_slug}"),
        6: ("freshdesk", f"/a/solutions/articles/{article_id}"),
    }
    if form in paths:
        desk, path = paths[form]
        key = article_id
    else:
        host = draw(_custom_hosts)  # Chatwoot lives off *.zendesk.com
        desk, key = "chatwoot", draw(_chatwoot_slugs)
        portal = draw(_portals)
        path = (
            f"/hc/{portal}/articles/{key}" if form == 7 else f"/hc/{portal}/{locale}/articles/{key}"
        )
    if draw(st.booleans()):
        host = host.upper()
    slash = "/" if draw(st.booleans()) else ""
    url = f"{draw(st.sampled_from(['http', 'https']))}://{host}{path}{slash}"
    return url + draw(_queries) + draw(_fragments), desk, key


# Surrounding text that cannot itself carry an article link.
_prose = st.text(max_size=80).filter(lambda t: "articles" not in html.unescape(t).lower())


@given(article_urls(), _prose, _prose, st.sampled_from(["", ".", ",", ")", "!", "?", ";", ":"]))
def test_any_supported_url_in_prose_extracts_exactly_its_article(case, before, after, punct):
    url, desk, key = case
    links = extract_article_links(f"{before} {url}{punct} {after}")
    assert [link.key for link in links] == [(desk, key)]


@given(article_urls(), _prose, st.sampled_from(['"{}"', "'{}'", "{}"]))
def test_any_supported_url_in_an_anchor_extracts_exactly_its_article(case, text, quoting):
    url, desk, key = case
    href = quoting.format(html.escape(url, quote=True))
    draft = f"<p>{html.escape(text)} <a href={href} target=_blank>{html.escape(text)}</a></p>"
    links = extract_article_links(draft)
    assert [link.key for link in links] == [(desk, key)]


@given(st.text(max_size=400))
def test_text_without_article_paths_extracts_nothing(text):
    assume("articles" not in html.unescape(text).lower())
    assert extract_article_links(text, help_center_domains=["a.example"]) == []


@given(
    st.text(max_size=400)
    | st.lists(
        st.sampled_from(
            [
                "https://",
                "http://",
                "/hc/",
                "en-us/",
                "articles/",
                "123",
                "-x",
                "&amp;",
                "&#",
                "?",
                "#",
                "%",
                "%2F",
                "<a href=",
                "'",
                '"',
                ">",
                " ",
                "support/solutions/",
                "a/",
                "@",
                ":",
                "[",
            ]
        )
    ).map("".join)
)
def test_extraction_never_raises(text):
    links = extract_article_links(text, help_center_domains=["a.example", "*.b.example", ""])
    assert all(link.article_id or link.slug for link in links)


@pytest.mark.parametrize(
    ("url", "desk"),
    [
        # rule 3: the Zendesk host wins, whatever the segment looks like
        ("https://acme.zendesk.com/hc/user-guide/articles/1700000000-x", "zendesk"),
        # rule 4: the Chatwoot host wins
        ("https://app.chatwoot.com/hc/en/articles/1700000000-x", "chatwoot"),
        # rule 5: custom domain, language code + numeric id -> Zendesk ...
        ("https://help.acme.example/hc/en/articles/1700000000-x", "zendesk"),
        ("https://help.acme.example/hc/zh-tw/articles/1700000000-x", "zendesk"),
        # ... a non-language segment, or a slug without a leading id -> Chatwoot
        ("https://help.acme.example/hc/kb/articles/1700000000-x", "chatwoot"),
        ("https://help.acme.example/hc/xx-yy/articles/1700000000-x", "chatwoot"),
        ("https://help.acme.example/hc/en/articles/reset-password", "chatwoot"),
    ],
)
def test_zendesk_or_chatwoot_disambiguation(url: str, desk: str):
    (link,) = extract_article_links(url)
    assert link.desk == desk
