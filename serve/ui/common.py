"""Small helpers every tab shares: who is asking, in which language, translated labels,
translated errors, display names, thumbnails and download files.

Every handler starts with `user, lang = enter(ctx, request, Permission.X)`: the role is
checked on the server whatever the page shows, and a refusal becomes a `gr.Error` in the
user's language. `Texts` records, for each component, how to re-render its visible
strings; `Texts.updates(lang, user)` returns one `gr.update` per component, used on page
load and when the language changes.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

import gradio as gr
from PIL import Image

from species_data.images import ImageDecodeError, decode_image

from serve.records.auth import Permission, PermissionDenied, can
from serve.i18n import LANGUAGES, normalise_language, t
from serve.quiz.engine import QuizError
from serve.records.errors import DatabaseUnavailable
from serve.records.store import RecordError
from serve.records.schema import User

LANGUAGE_AUDIT = "user.set_language"


# --- language ------------------------------------------------------------------------------


def browser_language(accept_language: str | None) -> str | None:
    """The first supported language of an Accept-Language header, by q-value; None if none."""
    if not accept_language:
        return None
    ranked = []
    for i, part in enumerate(accept_language.split(",")):
        code, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, code.strip()))
    for _, _, code in sorted(ranked):
        base = code.replace("_", "-").split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return None


def pick_language(stored: str, chosen_explicitly: bool, accept_language: str | None) -> str:
    """The user's own choice wins; otherwise the browser's language, else the stored one."""
    if chosen_explicitly:
        return normalise_language(stored)
    return browser_language(accept_language) or normalise_language(stored)


def user_language(ctx, user: User, request: gr.Request | None) -> str:
    explicit = bool(ctx.store.audit_log(who=user.name, action=LANGUAGE_AUDIT, limit=1))
    headers = getattr(request, "headers", None) or {}
    return pick_language(user.language, explicit, headers.get("accept-language"))


# --- errors --------------------------------------------------------------------------------


def error(lang: str, key: str, **params: Any) -> gr.Error:
    return gr.Error(t(key, lang, **params), title=t("app.error.title", lang), print_exception=False)


def denied(lang: str, exc: PermissionDenied) -> gr.Error:
    if exc.permission is None:
        return error(lang, "app.error.not_yours", detail=str(exc))
    return error(lang, "app.error.permission", action=t(f"app.permission.{exc.permission.value}", lang))


def enter(ctx, request: gr.Request, *permissions: Permission) -> tuple[User, str]:
    """(user, language) after checking the user holds at least one of `permissions`."""
    try:
        user = ctx.user(getattr(request, "username", None))
    except PermissionDenied as exc:
        raise error("en", "app.error.signed_out") from exc
    lang = user_language(ctx, user, request)
    if permissions and not any(can(user, p) for p in permissions):
        try:
            ctx.require(user.name, permissions[0])
        except PermissionDenied as exc:
            raise denied(lang, exc) from None
    return user, lang


@contextlib.contextmanager
def user_errors(lang: str) -> Iterator[None]:
    """Turn the errors a person can fix into a translated `gr.Error` (no traceback logged)."""
    try:
        yield
    except gr.Error:
        raise
    except PermissionDenied as exc:
        raise denied(lang, exc) from None
    except ImageDecodeError as exc:
        raise error(lang, "app.error.bad_image", name=exc.name, reason=exc.reason) from None
    except DatabaseUnavailable as exc:  # a database server down or restarting
        raise error(lang, "seizures.error.database", detail=str(exc)) from None
    except (QuizError, RecordError, ValueError, FileNotFoundError) as exc:
        raise error(lang, "app.error.invalid", detail=str(exc)) from None


# --- translated components -----------------------------------------------------------------

Builder = Callable[[str, User | None], dict]


class Texts:
    """Components and how to render their visible text (and role-based visibility)."""

    INITIAL = ("label", "info", "placeholder", "value", "choices")

    def __init__(self) -> None:
        self._items: list[tuple[Any, Builder]] = []

    def add(self, component: Any, build: Builder) -> Any:
        """Register `component`; its English text is set now (shown before the page loads)."""
        if any(c is component for c, _ in self._items):
            raise ValueError(f"{component!r} is registered twice; one update per component")
        self._items.append((component, build))
        for key, value in build("en", None).items():
            if key == "choices":  # as the constructor stores them: (label, value) pairs
                value = [tuple(c) if isinstance(c, (tuple, list)) else (str(c), c) for c in value]
            if key in self.INITIAL:
                setattr(component, key, value)
        return component

    def label(self, component: Any, key: str, *, info: str | None = None,
              placeholder: str | None = None, visible_if: Permission | None = None) -> Any:
        def build(lang: str, user: User | None) -> dict:
            upd: dict[str, Any] = {"label": t(key, lang)}
            if info:
                upd["info"] = t(info, lang)
            if placeholder:
                upd["placeholder"] = t(placeholder, lang)
            if visible_if is not None:
                upd["visible"] = can(user, visible_if)
            return gr.update(**upd)
        return self.add(component, build)

    def value(self, component: Any, key: str, *, visible_if: Permission | None = None,
              markup: str = "{}", **params: Any) -> Any:
        """Markdown and Button text; `markup` wraps it, e.g. "## {}" for a heading."""
        def build(lang: str, user: User | None) -> dict:
            upd: dict[str, Any] = {"value": markup.format(t(key, lang, **params))}
            if visible_if is not None:
                upd["visible"] = can(user, visible_if)
            return gr.update(**upd)
        return self.add(component, build)

    def choices(self, component: Any, key: str, options: Callable[[str], list[tuple[str, Any]]],
                ) -> Any:
        """Radio/Dropdown: label and translated choices (values stay the same)."""
        return self.add(component, lambda lang, user: gr.update(
            label=t(key, lang), choices=options(lang)))

    def section(self, component: Any, key: str | None, *, visible: Callable[[User | None], bool]
                ) -> Any:
        """Tab/Accordion/Group: label (if any) and visibility."""
        def build(lang: str, user: User | None) -> dict:
            upd: dict[str, Any] = {"visible": visible(user)}
            if key:
                upd["label"] = t(key, lang)
            return gr.update(**upd)
        return self.add(component, build)

    @property
    def components(self) -> list[Any]:
        return [c for c, _ in self._items]

    def updates(self, lang: str, user: User | None) -> list[dict]:
        return [build(lang, user) for _, build in self._items]


class Labels:
    """A layout's labels, paragraphs and buttons under one locale prefix (e.g. "trainer.ui."):
    in `lang` as built, re-rendered in each user's language when `texts` is given (tests build
    a layout without it)."""

    def __init__(self, texts: Texts | None, lang: str, prefix: str) -> None:
        self.texts, self.lang, self.prefix = texts, lang, prefix

    def __call__(self, key: str, **params: Any) -> str:
        return t(self.prefix + key, self.lang, **params)

    def label(self, component: Any, key: str, build: Builder | None = None) -> Any:
        """A labelled input or output; `build` renders more than the label (e.g. choices)."""
        component.label = self(key)
        if self.texts is not None:
            if build is None:
                self.texts.label(component, self.prefix + key)
            else:
                self.texts.add(component, build)
        return component

    def markdown(self, key: str) -> gr.Markdown:
        md = gr.Markdown(self(key))
        if self.texts is not None:
            self.texts.value(md, self.prefix + key)
        return md

    def button(self, key: str, **kw: Any) -> gr.Button:
        button = gr.Button(self(key), **kw)
        if self.texts is not None:
            self.texts.value(button, self.prefix + key)
        return button


def option_list(prefix: str, values: list[str]) -> Callable[[str], list[tuple[str, str]]]:
    """Choices whose labels are `t(prefix + value)`."""
    return lambda lang: [(t(f"{prefix}{v}", lang), v) for v in values]


# --- names ---------------------------------------------------------------------------------


def namer(catalogue, lang: str) -> Callable[[str], str]:
    """Class or group id -> display name in `lang` (the id itself if unknown)."""
    groups = catalogue.groups

    def name_of(key: str) -> str:
        entry = catalogue.get(key)
        if entry is not None:
            return entry.common_name(lang)
        group = groups.get(key)
        return group.name(lang) if group is not None else key
    return name_of


# --- images and files ----------------------------------------------------------------------


def thumbnail(path: str, side: int = 320) -> Image.Image:
    """A decoded, EXIF-free RGB copy no larger than side x side."""
    image = decode_image(path, min_side=side).image.copy()
    image.thumbnail((side, side))
    return image


@functools.lru_cache(maxsize=96)
def example_thumbnail(path: str) -> Image.Image:
    """`thumbnail(path)` of a reference photo, kept (the same few are shown again and again).
    Callers must not modify it."""
    return thumbnail(path)


def side_by_side(left: Image.Image | None, right: Image.Image | None, side: int = 320,
                 gap: int = 8) -> Image.Image | None:
    """Two photos next to each other on a white strip, the same height."""
    parts = [p for p in (left, right) if p is not None]
    if not parts:
        return None
    scaled = [p.resize((max(1, round(p.width * side / p.height)), side)) for p in parts]
    width = sum(p.width for p in scaled) + gap * (len(scaled) - 1)
    canvas = Image.new("RGB", (width, side), "white")
    x = 0
    for p in scaled:
        canvas.paste(p, (x, 0))
        x += p.width + gap
    return canvas
