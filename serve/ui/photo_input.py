"""The camera/upload photo input: Gradio's image widget, without Gradio's own decoding.

Why: `gr.Image` opens, EXIF-rotates and converts every uploaded image to RGB (and saves a
re-encoded copy) before the handler runs. A 109 KB PNG that claims 30000 x 30000 pixels
then costs gigabytes before any check of ours can refuse it (issue 14 item 1). `photo_input`
keeps the same widget in the browser (upload and webcam) and the same API schema, but its
`preprocess` only hands the handler the uploaded file's path; the bytes are decoded once,
by `species_data.images.decode_image`, which refuses bombs from the header.

A `data:` URL (which the API accepts where a file is expected) is written to a file as
bytes, bounded in size, never decoded here.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import types
from pathlib import Path

import gradio as gr

from species_data.images import MAX_BYTES

from serve.i18n import t

# base64 of MAX_BYTES, plus room for the "data:image/...;base64," prefix
MAX_DATA_URL = MAX_BYTES * 4 // 3 + 256


def photo_input(**kwargs) -> gr.Image:
    """A `gr.Image` (e.g. sources upload/webcam) whose value reaches the handler as the
    uploaded file's path, undecoded. (An instance's `preprocess` is replaced rather than a
    subclass made: Gradio writes a .pyi stub beside every Component subclass's module.)"""
    image = gr.Image(type="filepath", image_mode=None, **kwargs)
    image.preprocess = types.MethodType(undecoded_path, image)
    return image


def undecoded_path(component: gr.Image, payload) -> str | None:
    """`gr.Image.preprocess` without the decoding: the path of the uploaded bytes."""
    if payload is None:
        return None
    url = getattr(payload, "url", None) or ""
    if url.startswith("data:"):
        return save_data_url(url, Path(component.GRADIO_CACHE))
    if not getattr(payload, "path", None):
        raise gr.Error(t("app.error.no_photos"), print_exception=False)
    return str(payload.path)


def save_data_url(url: str, cache: Path) -> str:
    """The bytes of a base64 data URL in a file under `cache` (size-checked, not decoded)."""
    if len(url) > MAX_DATA_URL:
        raise gr.Error(t("app.error.file_too_large", size=len(url) * 3 / 4 / 2**20,
                         limit=MAX_BYTES // 2**20), print_exception=False)
    try:
        data = base64.b64decode(url.rsplit(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        raise gr.Error(t("app.error.bad_image", name="camera photo",
                         reason="the data URL is not valid base64"), print_exception=False) from None
    folder = cache / hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "camera-photo"
    path.write_bytes(data)
    return str(path)
