"""Server-side state shared by every tab: configuration, records, photos, catalogue, model.

One `AppContext` per process. Each tab's handler class holds it (see
`serve/ui/`) and asks it for the current user (from Gradio's login), the
catalogue (packaged entries + trainer edits) and the published model, which is
re-read when `models/current` changes, so publishing or rolling back switches
the served model without a restart.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from species_data import PACKAGED_DIR, Catalogue, load_catalogue

from serve.records.auth import Permission, PermissionDenied, require
from species_data.photo_store import PhotoStore
from serve.exports import Exports
from serve.login_throttle import LoginThrottle
from serve.records.store import Store
from serve.records.schema import User

AUTH_THREADS = 1  # password checks at once: bcrypt is CPU-bound, and identify needs the other cores
DEFAULT_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"


@dataclass(frozen=True)
class AppConfig:
    data_dir: Path = Path("data")
    db_url: str | None = None  # default: sqlite:///<data_dir>/records.db
    photo_roots: tuple[Path, ...] = (DEFAULT_PHOTOS,)  # read-only sample photos (quiz, examples)
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = 32
    max_files: int = 200
    bcrypt_rounds: int | None = None
    login_throttle: LoginThrottle | None = None  # default: serve.login_throttle's policies

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def catalogue_overlay(self) -> Path:
        return self.data_dir / "catalogue"

    @property
    def card_dir(self) -> Path:
        """Model cards of published models: the repository's model_cards/ beside the data folder."""
        return Path(self.data_dir).resolve().parent / "model_cards"

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.data_dir / 'records.db').resolve()}"


@dataclass
class AppContext:
    config: AppConfig
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _quiz_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _catalogue: Catalogue | None = field(default=None, repr=False)
    _predictor: object | None = field(default=None, repr=False)
    _predictor_target: str | None = field(default=None, repr=False)
    _auth_limiter: object | None = field(default=None, repr=False)

    @cached_property
    def store(self) -> Store:
        return Store.open(self.config.database_url, bcrypt_rounds=self.config.bcrypt_rounds)

    @cached_property
    def quiz(self):
        """The quiz service (photo pools, sessions); built once, on first use."""
        from serve.quiz.service import QuizService

        with self._quiz_lock:  # its own lock: building it reads the catalogue, which takes _lock
            return self.__dict__.get("quiz") or QuizService(self)

    @cached_property
    def photos(self) -> PhotoStore:
        return PhotoStore(self.config.data_dir / "photos")

    # --- catalogue -------------------------------------------------------
    def catalogue(self) -> Catalogue:
        with self._lock:
            if self._catalogue is None:
                self._catalogue = load_catalogue(PACKAGED_DIR, self.config.catalogue_overlay)
            return self._catalogue

    def reload_catalogue(self) -> Catalogue:
        with self._lock:
            self._catalogue = None
        return self.catalogue()

    # --- photos ----------------------------------------------------------
    def photo_changes(self) -> tuple[list, list[str]]:
        """Uploaded photos to add (species_data Photo records) and content hashes of removed
        photos to leave out, relative to any bundle's photos."""
        from species_data.dataset import Photo, split_of

        add, remove = [], []
        for p in self.store.all_photos(include_removed=True):
            if p.removed:
                remove.append(p.sha256)
            elif (path := self.photos.find(p.sha256)) is not None:
                add.append(Photo(path, p.class_id, p.sha256, split_of(p.sha256), source=p.source or "upload"))
        return add, remove

    # --- model -----------------------------------------------------------
    def predictor(self):
        """The published model; reloaded when `models/current` points elsewhere."""
        from serve.identify.predictor import Predictor

        link = self.config.models_dir / "current"
        if not link.exists():
            raise FileNotFoundError(
                f"no published model under {self.config.models_dir}; train one with "
                "`python -m train fit ... --out data/models/v1` and `python -m train publish v1`")
        target = os.path.realpath(link)
        with self._lock:
            if self._predictor is None or self._predictor_target != target:
                self._predictor = Predictor.load(target)
                self._predictor_target = target
            return self._predictor

    # --- users -----------------------------------------------------------
    def user(self, username: str | None) -> User:
        """The logged-in user (Gradio passes `request.username`); refuses anonymous calls."""
        if not username:
            raise PermissionDenied("not logged in: sign in first", user=None, role=None, permission=None)
        user = self.store.get_user(username)
        if user is None:
            raise PermissionDenied(f"unknown user {username!r}", user=username, role=None, permission=None)
        return user

    def require(self, username: str | None, permission: Permission) -> User:
        user = self.user(username)
        require(user, permission)
        return user

    def authenticate(self, username: str, password: str) -> bool:
        return self.store.authenticate(username, password) is not None

    async def authenticate_async(self, username: str, password: str) -> bool:
        """`authenticate` in a worker thread (at most AUTH_THREADS at once): Gradio's login
        route awaits this, so a bcrypt check never stalls the event loop (issue 14 item 4)."""
        import anyio

        if self._auth_limiter is None:  # made inside the event loop, as anyio needs
            self._auth_limiter = anyio.CapacityLimiter(AUTH_THREADS)
        return await anyio.to_thread.run_sync(self.authenticate, username, password,
                                              limiter=self._auth_limiter)

    # --- what the HTTP guard keeps (serve.http_guard) --------------------------
    @cached_property
    def exports(self) -> Exports:
        return Exports()

    @cached_property
    def login_throttle(self) -> LoginThrottle:
        return self.config.login_throttle or LoginThrottle()
