"""Event handlers of the trainer tab (one method per API endpoint).

Every handler takes `request: gr.Request` last and calls `ctx.require(request.username,
Permission.X)` before anything else, so a trainee or officer is refused at the server,
through the web page and through the API alike. Every change is written to the audit
log. Handlers return plain values for the tab's components (see `serve/ui/trainer.py`);
failures become `gr.Error` with a translated message.
"""
import threading
from contextlib import contextmanager
from pathlib import Path

import gradio as gr

from species_data import CatalogueError
from species_data.dataset import Photo
from species_data.images import ImageDecodeError
from species_data.ingest import Collected, IngestError, IngestLimits, collect
from species_data.photo_store import sniff_ext
from species_data.quality import QualityGate
from species_data.zipimport import ZipImportError

from serve.context import AppContext
from serve.i18n import t
from serve.auto_finetune import AutoFinetune
from serve.photo_intake import Provenance, add_photos, gate_for
from serve.records.auth import Permission, PermissionDenied
from serve.records.store import NotFound
from serve.ui.common import thumbnail, user_language
from serve.ui.trainer_auto import AutoFinetuneHandlers
from serve.ui.trainer_models import ModelHandlers
from serve.ui.trainer_views import FLAG_COLUMNS, VERDICT_COLUMNS, flag_rows, frame, verdict_rows


def _thumb(path, side: int = 200):
    """A small decoded copy for a gallery (photos may live outside the folders Gradio serves)."""
    try:
        return thumbnail(str(path), side)
    except (ImageDecodeError, OSError):
        return None


def _language(ctx, user, request) -> str:
    """The user's language by the app's rule (explicit choice, else the browser's, else stored)."""
    return user_language(ctx, user, request)


class TrainerHandlers(ModelHandlers, AutoFinetuneHandlers):
    def __init__(self, ctx: AppContext, *, card_dir: Path | None = None, retrain_mode: str = "finetune",
                 retrain_command=None, auto_command=None) -> None:
        self.ctx = ctx
        self.card_dir = Path(card_dir) if card_dir else ctx.config.card_dir
        self.retrain_mode = retrain_mode
        self.retrain_command = retrain_command  # (version, photo_tree) -> argv; tests pass a fake
        self.auto = AutoFinetune(ctx, self.card_dir, auto_command)  # the background fine-tune
        self._update_lock = threading.Lock()

    # --- plumbing ------------------------------------------------------------------------
    def _require(self, request, permission: Permission):
        """(user, language) if the caller holds `permission`; a translated `gr.Error` otherwise."""
        username = getattr(request, "username", None)
        try:
            user = self.ctx.require(username, permission)
        except PermissionDenied:
            user = self.ctx.store.get_user(username) if username else None
            lang = _language(self.ctx, user, request) if user else "en"
            raise gr.Error(t("trainer.error.denied", lang, action=t(f"trainer.permission.{permission.value}", lang)),
                           print_exception=False) from None
        return user, _language(self.ctx, user, request)

    @contextmanager
    def _errors(self, lang: str):
        try:
            yield
        except gr.Error:
            raise
        except (ValueError, KeyError, FileNotFoundError, CatalogueError, ZipImportError, NotFound) as err:
            raise gr.Error(t("trainer.error.failed", lang, detail=str(err))) from err

    @property
    def models_dir(self) -> Path:
        return self.ctx.config.models_dir

    def _published(self):
        from train.bundle import current

        return current(self.models_dir)

    def _jobs(self):
        from train.jobs import JobManager

        return JobManager(self.ctx.config.data_dir / "jobs")

    def _next_version(self) -> str:
        from train.quick_update import next_version

        version = next_version(self.models_dir)
        job = self._jobs().active()
        if job is not None and job.out == version:
            version = f"v{int(version[1:]) + 1}"
        return version

    def _class_choices(self) -> list[str]:
        return list(self.ctx.catalogue().ids)

    # --- photos --------------------------------------------------------------------------
    def quality_gate(self) -> QualityGate:
        """The upload quality gate, knowing every recorded photo and the published model's."""
        return gate_for(self.ctx.store, self._published(), self.ctx.config.data_dir)

    def _read_files(self, files, lang: str) -> Collected:
        """Every photo of the uploaded files (zip archives opened safely), within the app's limits."""
        cfg = self.ctx.config
        paths = [Path(getattr(f, "name", None) or getattr(f, "path", None) or f) for f in files or []]
        try:
            return collect([(p.name, p) for p in paths], IngestLimits(cfg.max_files, cfg.max_upload_mb * 2**20))
        except IngestError as err:  # too many files or bytes: the limits the trainer can act on
            raise gr.Error(t(f"trainer.upload.{err.code}", lang, **err.params)) from None
        except ZipImportError as err:
            raise gr.Error(t("trainer.error.failed", lang, detail=str(err))) from None

    def upload(self, files, class_id: str, source: str, licence: str, credit: str, request: gr.Request):
        """Quality-gate each file; accepted ones go to the photo store with their provenance."""
        user, lang = self._require(request, Permission.UPLOAD_PHOTOS)
        if not class_id or class_id not in self.ctx.catalogue():
            raise gr.Error(t("trainer.upload.unknown_class", lang, id=class_id or ""))
        if not (source or "").strip() or not (licence or "").strip():
            raise gr.Error(t("trainer.upload.provenance", lang))
        batch = self._read_files(files, lang)
        if not batch.items:
            raise gr.Error(t("trainer.upload.nothing", lang))
        provenance = Provenance(user.name, source, licence, credit or "")
        verdicts = add_photos(self.ctx.store, self.ctx.photos, batch, class_id, provenance, self.quality_gate())
        accepted = [v.sha256 for v in verdicts if v.accepted]
        summary = t("trainer.upload.summary", lang, accepted=len(accepted), total=len(verdicts), id=class_id)
        if accepted:
            self._auto_check()
        return frame(verdict_rows(verdicts, lang), VERDICT_COLUMNS, lang), summary

    def _auto_check(self) -> None:
        """New photos may make a background fine-tune due; a failure there never fails an upload."""
        import logging

        try:
            self.auto.check()
        except Exception:  # noqa: BLE001
            logging.getLogger(__name__).exception("background fine-tune check failed")

    def _class_photos(self, class_id: str) -> list[tuple[str, str, str]]:
        """(sha, path, origin) of the class's current photos: the published model's and uploads."""
        rows, seen = [], set()
        removed = {p.sha256 for p in self.ctx.store.all_photos(include_removed=True) if p.removed}
        for p in self.ctx.store.photos_of(class_id):
            path = self.ctx.photos.find(p.sha256)
            if path is not None:
                rows.append((p.sha256, str(path), "upload"))
                seen.add(p.sha256)
        published = self._published()
        for r in (published.manifest() if published else []):
            if r["label"] == class_id and r["sha256"] not in seen and r["sha256"] not in removed:
                rows.append((r["sha256"], r["path"], "model"))
        return rows

    def review(self, class_id: str, request: gr.Request):
        """Gallery of the class's photos (captions: hash prefix) and the hashes in gallery order."""
        self._require(request, Permission.UPLOAD_PHOTOS)
        items = [(sha, _thumb(path), origin) for sha, path, origin in self._class_photos(class_id or "")]
        items = [(sha, image, origin) for sha, image, origin in items if image is not None]
        return [(image, f"{sha[:10]} · {origin}") for sha, image, origin in items], [sha for sha, _, _ in items]

    def _full_sha(self, sha: str, lang: str) -> str:
        """The photo's full hash from the hash or a unique prefix of at least 10 hex digits
        (what the review gallery's captions show, so an API caller can name a photo too)."""
        sha = (sha or "").strip().lower()
        if len(sha) == 64 or not (10 <= len(sha) < 64) or any(c not in "0123456789abcdef" for c in sha):
            return sha  # the store's own check words the error for anything else
        published = self._published()
        known = {p.sha256 for p in self.ctx.store.all_photos(include_removed=True)}
        known |= {r["sha256"] for r in (published.manifest() if published else [])}
        matches = [k for k in known if k.startswith(sha)]
        if len(matches) != 1:
            raise gr.Error(t("trainer.review.unknown_photo", lang, sha=sha[:12]))
        return matches[0]

    def remove_photo(self, sha: str, reason: str, request: gr.Request):
        """Leave a photo out of training (kept on record); works for the model's photos too."""
        user, lang = self._require(request, Permission.UPLOAD_PHOTOS)
        sha = self._full_sha(sha, lang)
        if not (reason or "").strip():
            raise gr.Error(t("trainer.review.reason_needed", lang))
        with self._errors(lang):
            record = self.ctx.store.get_photo(sha)
            if record is None:
                self._register_model_photo(sha, user.name, lang)
            record = self.ctx.store.remove_photo(sha, by=user.name, reason=reason.strip())
        self.ctx.store.audit(user.name, "trainer_remove_photo",
                             {"sha256": sha, "class_id": record.class_id, "reason": reason.strip()})
        return t("trainer.review.removed", lang, sha=sha[:12], id=record.class_id)

    def restore_photo(self, sha: str, request: gr.Request):
        user, lang = self._require(request, Permission.UPLOAD_PHOTOS)
        sha = self._full_sha(sha, lang)
        with self._errors(lang):
            record = self.ctx.store.restore_photo(sha, by=user.name)
        self.ctx.store.audit(user.name, "trainer_restore_photo", {"sha256": record.sha256, "class_id": record.class_id})
        return t("trainer.review.restored", lang, sha=record.sha256[:12], id=record.class_id)

    def _register_model_photo(self, sha: str, who: str, lang: str) -> None:
        """A training photo of the published model enters the records so it can be marked removed."""
        from species_data.images import decode_image
        from species_data.quality import phash_hex

        published = self._published()
        row = next((r for r in (published.manifest() if published else []) if r["sha256"] == sha), None)
        if row is None:
            raise gr.Error(t("trainer.review.unknown_photo", lang, sha=sha[:12]))
        data = Path(row["path"]).read_bytes()
        decoded = decode_image(data, name=Path(row["path"]).name, min_side=256)
        origin = row.get("source") or Path(row["path"]).name
        self.ctx.store.add_photo(sha256=sha, class_id=row["label"], ext=sniff_ext(data) or "jpg",
                                 width=decoded.original_size[0], height=decoded.original_size[1],
                                 phash=phash_hex(decoded.image), uploader=who,
                                 source=f"model {published.meta.version}: {origin}")

    def _changes(self) -> tuple[list[Photo], list[str]]:
        """Uploaded photos to add and removed photos to leave out, relative to any bundle."""
        return self.ctx.photo_changes()

    def label_noise(self, class_id: str, request: gr.Request, progress=gr.Progress()):
        """Photos the model (out-of-fold) strongly places elsewhere or finds unlike their class."""
        user, lang = self._require(request, Permission.TRAIN)
        from train.label_noise import flag_bundle_photos

        published = self._published()
        if published is None:
            raise gr.Error(t("trainer.error.no_model", lang))
        progress(0.1, desc=t("trainer.noise.running", lang))
        add, remove = self._changes()
        with self._errors(lang):
            flags = flag_bundle_photos(published.path, self.ctx.config.data_dir, add, remove,
                                       only=[class_id] if class_id else None)
        gallery = [(image, f"{f.label} → {f.suggested} ({f.p_given:.2f})") for f in flags
                   if (image := _thumb(f.path)) is not None]
        self.ctx.store.audit(user.name, "trainer_label_noise", {"class_id": class_id or "*", "flags": len(flags)})
        return frame(flag_rows(flags, lang), FLAG_COLUMNS, lang), gallery, t("trainer.noise.found", lang, n=len(flags))

    def select_photo(self, shas: list, evt: gr.SelectData, request: gr.Request):
        """The content hash of the gallery photo clicked."""
        self._require(request, Permission.UPLOAD_PHOTOS)
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        return shas[index] if shas and 0 <= index < len(shas) else ""

    def select_flag(self, evt: gr.SelectData, request: gr.Request):
        """The content hash of the flagged photo whose row was clicked (last column)."""
        self._require(request, Permission.UPLOAD_PHOTOS)
        row = getattr(evt, "row_value", None) or []
        return str(row[-1]) if row else ""
