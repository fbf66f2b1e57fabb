"""The page itself in the user's language: Gradio's own strings, `<html lang>`, the page
title and the login page.

Why here and not in the handlers: Gradio translates its own component strings ("Drop files
here", "or", "Click to upload", "Use via API", the login form) in the browser, with
svelte-i18n, choosing the locale once at start-up from `navigator.language`; strings already
drawn do not follow a later change. The login page exists before anyone is signed in, and
the page title and `<html lang>` are set before any handler runs. So the page is *served* in
the right language:

* `gradio_i18n()` - a `gr.I18n` with our translations of Gradio's strings
  (`serve/locales/<lang>/gradio.json`, keys `gradio.<Gradio's key>`): it fills what Gradio's
  own translations lack (its `common.complete` is a raw key in every language) and uses the
  glossary's words ("importer", not "télécharger", for an upload in French).
* `PageLanguage` - ASGI middleware on the app page (GET /): the language is the signed-in
  user's (their choice, else the browser's, as everywhere in the app) or, on the login page,
  the browser's; the page gets `<html lang>`, a translated title and login message, and starts
  Gradio's i18n in that language.
* Some of Gradio's labels for screen readers and tooltips are written in English in its code
  ("Copy table data", "number input for <label>", a table header's stale tooltip): they are
  not translatable through `gr.I18n`, so the start-up script replaces them, as Gradio draws
  them, with the app's translations (`gradio.aria.*` and the app's own short strings).
* `RELOAD_JS` - run after the user picks a language: the page is drawn again, all of it in
  the new language.
"""
from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

from serve.i18n import DEFAULT_LANGUAGE, LANGUAGES, strings, t, typeset

# Our language codes -> the locale Gradio's bundled translations use (Brazilian Portuguese).
GRADIO_LOCALE = {"pt": "pt-BR"}
PREFIX = "gradio."
ARIA = "gradio.aria."  # Gradio's hard-coded English attributes: ours to translate, not gr.I18n's
ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")
# Reload only when the page is drawn in another language than the one picked: a keyboard user
# tabbing past the picker (Gradio's dropdown sends `input` on blur) keeps the page.
RELOAD_JS = """(code) => {
  if ((document.documentElement.lang || "en").split("-")[0] !== code) window.location.reload();
}"""


def html_lang(lang: str) -> str:
    """The BCP 47 tag of a language for `<html lang>` ('pt' -> 'pt-BR')."""
    return GRADIO_LOCALE.get(lang, lang)


def gradio_translations() -> dict[str, dict[str, str]]:
    """{Gradio locale: {Gradio key: text}} for every language that translates Gradio's strings."""
    out: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        mine = {k[len(PREFIX):]: typeset(v, lang) for k, v in strings(lang).items()
                if k.startswith(PREFIX) and not k.startswith(ARIA)}
        if mine:
            out[html_lang(lang)] = mine
    return out


def gradio_i18n():
    import gradio as gr

    return gr.I18n(**gradio_translations())


# --- the served page -----------------------------------------------------------------------

_HTML_LANG = re.compile(r'<html(\s+)lang="[^"]*"')
_HEAD = re.compile(r"<head>", re.IGNORECASE)


def attribute_translations(lang: str) -> dict:
    """{"exact": {English: text}, "patterns": [[regex, replacement], ...]} for the attributes
    Gradio writes in English: its hard-coded labels (`gradio.aria.*`, with `{placeholders}`
    as patterns) and the app's own short strings (a table header's tooltip keeps the header
    it was built with)."""
    if lang == DEFAULT_LANGUAGE:
        return {"exact": {}, "patterns": []}
    english, mine = strings(DEFAULT_LANGUAGE), strings(lang)
    exact: dict[str, str] = {}
    patterns: list[list[str]] = []
    for key, en in english.items():
        theirs = mine.get(key)
        if not theirs or theirs == en or (key.startswith(PREFIX) and not key.startswith(ARIA)):
            continue
        names = re.findall(r"\{(\w+)\}", en)
        if names:
            if key.startswith(ARIA):
                source = "^" + re.sub(r"\\\{\w+\\\}", "(.*?)", re.escape(en)) + "$"
                target = theirs
                for i, name in enumerate(names, 1):
                    target = target.replace("{" + name + "}", f"${i}")
                patterns.append([source, typeset(target, lang)])
        elif len(en) <= 80 and "{" not in theirs:
            exact[en] = typeset(theirs, lang)
    return {"exact": exact, "patterns": patterns}


def _start_script(lang: str) -> str:
    """Runs before Gradio: its i18n starts in `lang`; `<html lang>` stays `lang` (Gradio sets it
    to its own locale, English for the languages it has no translations of); attributes Gradio
    writes in English are translated as they appear."""
    tag = json.dumps(html_lang(lang))
    table = json.dumps(attribute_translations(lang), ensure_ascii=False).replace("</", "<\\/")
    attributes = json.dumps(list(ATTRIBUTES))
    return ("<script>(function () {"
            f"var tag = {tag}, root = document.documentElement, table = {table}, names = {attributes};"
            "try { Object.defineProperty(navigator, 'language', {get: function () { return tag; }});"
            "Object.defineProperty(navigator, 'languages', {get: function () { return [tag]; }}); }"
            " catch (e) {}"
            "root.lang = tag;"
            "var rules = table.patterns.map(function (p) { return [new RegExp(p[0]), p[1]]; });"
            "function say(text) {"
            "  if (Object.prototype.hasOwnProperty.call(table.exact, text)) return table.exact[text];"
            "  for (var i = 0; i < rules.length; i++) if (rules[i][0].test(text))"
            "    return text.replace(rules[i][0], rules[i][1]).replace(/[\\s\\u202f:«»\"]*undefined[\\s\\u202f»\"]*/g, '');"
            "  return null; }"
            "function fix(el) { for (var i = 0; i < names.length; i++) {"
            "  var v = el.getAttribute && el.getAttribute(names[i]);"
            "  if (v) { var w = say(v); if (w !== null && w !== v) el.setAttribute(names[i], w); } } }"
            "function sweep(node) { if (node.nodeType !== 1) return; fix(node);"
            "  var all = node.querySelectorAll('[' + names.join('],[') + ']');"
            "  for (var i = 0; i < all.length; i++) fix(all[i]); }"
            "new MutationObserver(function (changes) {"
            "  if (root.lang !== tag) root.lang = tag;"
            "  if (!rules.length && !Object.keys(table.exact).length) return;"
            "  for (var i = 0; i < changes.length; i++) { var c = changes[i];"
            "    if (c.type === 'attributes') { if (c.target !== root) fix(c.target); }"
            "    else for (var j = 0; j < c.addedNodes.length; j++) sweep(c.addedNodes[j]); } })"
            ".observe(root, {attributes: true, attributeFilter: ['lang'].concat(names), childList: true, subtree: true});"
            "})();</script>")


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def localise_page(page: str, lang: str) -> str:
    """The app page (Gradio's index.html with its config) in `lang`: `<html lang>`, a `<title>`,
    the title in the config and the login message, and the start-up script."""
    title = t("app.page_title", lang)
    page = _HTML_LANG.sub(lambda m: f'<html{m.group(1)}lang="{html_lang(lang)}"', page, count=1)
    head = f"<head>{_start_script(lang)}<title>{_escape(title)}</title>"
    page = _HEAD.sub(lambda m: head, page, count=1)
    for key, field in (("app.page_title", "title"), ("app.login.message", "auth_message")):
        english = f'"{field}":{_json_string(t(key, DEFAULT_LANGUAGE))}'
        page = page.replace(english, f'"{field}":{_json_string(t(key, lang))}')
    if '"auth_required":true' in page:  # Gradio sends the login page no translations of its own
        mine = _json_string(gradio_translations()).replace("</", "<\\/")
        page = page.replace("window.gradio_config = {", f'window.gradio_config = {{"i18n_translations":{mine},', 1)
    return page


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class PageLanguage:
    """ASGI middleware: the app page (GET /) served in the user's language (see module doc)."""

    def __init__(self, app, ctx) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope, receive, send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "GET" or scope.get("path") not in ("/", ""):
            await self.app(scope, receive, send)
            return
        lang = self.language(scope)
        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def buffered(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = list(start.get("headers", []))
            content = b"".join(body)
            kind = dict(headers).get(b"content-type", b"")
            if kind.startswith(b"text/html"):
                content = localise_page(content.decode("utf-8"), lang).encode("utf-8")
                headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(content)).encode()))
                headers.append((b"content-language", html_lang(lang).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, buffered)

    def language(self, scope) -> str:
        """The signed-in user's language by the app's rule, else the browser's (Accept-Language)."""
        from serve.ui.common import browser_language, user_language

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        accept = headers.get("accept-language")
        user = self._user(scope, headers.get("cookie", ""))
        if user is None:
            return browser_language(accept) or DEFAULT_LANGUAGE
        return user_language(self.ctx, user, SimpleNamespace(headers={"accept-language": accept}))

    def _user(self, scope, cookie_header: str):
        """The user whose Gradio session cookie the request carries, if any."""
        from http.cookies import CookieError, SimpleCookie

        app = scope.get("app")
        tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
        if not tokens or cookie_id is None:
            return None
        jar = SimpleCookie()
        try:
            jar.load(cookie_header)
        except CookieError:
            return None
        for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
            if name in jar and (username := tokens.get(jar[name].value)):
                return self.ctx.store.get_user(username)
        return None
