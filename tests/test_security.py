"""Issue 14's repros against the running app (gradio_client and plain HTTP): sign-in
throttling and audit, export ownership, control characters in case text, numeric ids,
model paths in the trainer's compare, anti-framing headers, Identify refused during a quiz.

One in-process server for the module, with a sign-in policy short enough to test: two free
failures per user name, a lock after four, lifted 1.5 s after the last failure. The
memory-bounded image decoding and the login flood under load run the app in its own
process: tests/test_image_bombs.py and tests/test_login_flood.py."""
from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from serve.login_throttle import LoginThrottle, Policy
from tests.helpers import free_port, password

pytestmark = pytest.mark.app

USERS = {"olga": "officer", "oscar": "officer", "tina": "trainee", "tess": "trainee",
         "tara": "trainee", "trev": "trainer", "vic": "officer", "otto": "officer"}
LOCK_S = 1.5


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_bundle, photos_root):
    from serve.app import build_app, launch
    from serve.context import AppConfig, AppContext

    data = tmp_path_factory.mktemp("security") / "data"
    (data / "models").mkdir(parents=True)
    os.symlink(model_bundle, data / "models" / "current")
    throttle = LoginThrottle(Policy(free=2, limit=4, base_delay=0.05, max_delay=0.2, lock_s=LOCK_S),
                             Policy(free=1000, limit=2000))
    ctx = AppContext(AppConfig(data_dir=data, port=free_port(), photo_roots=(photos_root,),
                               bcrypt_rounds=4, login_throttle=throttle))
    for name, role in USERS.items():
        ctx.store.add_user(name, role, password(name))
    demo = build_app(ctx)
    launch(demo, ctx, prevent_thread_lock=True, quiet=True)
    yield ctx, f"http://127.0.0.1:{ctx.config.port}/"
    demo.close()
    ctx.store.close()


@pytest.fixture(scope="module")
def clients(server):
    from gradio_client import Client

    _, url = server
    made = {}

    def get(name: str) -> Client:
        if name not in made:
            made[name] = Client(url, auth=(name, password(name)), verbose=False)
        return made[name]
    yield get
    for client in made.values():
        client.close()


def login(url: str, name: str, pw: str) -> httpx.Response:
    return httpx.post(url + "login", data={"username": name, "password": pw}, timeout=30)


def a_photo(photos_root: Path) -> Path:
    return sorted((photos_root / "ivory_carving").iterdir())[0]


# --- item 4: sign-in throttling and audit ----------------------------------------------------


def test_failed_sign_ins_are_audited_without_the_password(server):
    ctx, url = server
    assert login(url, "oscar", "guess-number-one").status_code == 400
    rows = ctx.store.audit_log(action="login.failed", who="oscar")
    assert rows and rows[0].detail["address"] == "127.0.0.1" and rows[0].detail["user"] == "oscar"
    assert rows[0].at.timestamp() > time.time() - 60
    every = " ".join(str(r.detail) for r in ctx.store.audit_log(limit=None))
    assert "guess-number-one" not in every
    assert login(url, "oscar", password("oscar")).status_code == 200
    assert ctx.store.audit_log(action="login.ok", who="oscar")


def test_a_burst_of_wrong_passwords_is_refused_with_429_then_the_user_signs_in(server):
    ctx, url = server
    codes = [login(url, "vic", f"wrong-{i}").status_code for i in range(12)]
    assert codes[:2] == [400, 400] and 429 in codes  # two free failures, then throttled
    checked = codes.count(400)
    assert checked <= 4  # the limit: after it nothing is checked until the lock lifts
    refused = login(url, "vic", password("vic"))  # even the right password waits
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert len(ctx.store.audit_log(action="login.failed", who="vic")) == checked
    assert ctx.store.audit_log(action="login.locked", who="vic")
    time.sleep(LOCK_S + 0.3)  # the attacker's burst is over
    assert login(url, "vic", password("vic")).status_code == 200


def test_the_password_check_runs_off_the_event_loop(server):
    import inspect

    ctx, _ = server
    assert inspect.iscoroutinefunction(ctx.authenticate_async)


# --- item 6: headers, exports, control characters, ids, model paths --------------------------


def test_pages_and_api_answers_refuse_to_be_framed(server, clients):
    _, url = server
    for path in ("", "gradio_api/info", "login_check"):
        r = httpx.get(url + path, timeout=30)
        assert r.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
    r = login(url, "olga", "not-her-password")
    assert r.headers["x-frame-options"] == "DENY"


def test_the_file_route_serves_neither_the_database_nor_paths_outside_its_folders(server, clients):
    ctx, url = server
    cookies = clients("trev").cookies
    for path in (ctx.config.data_dir.resolve() / "records.db", "/etc/passwd", "../../../../etc/passwd",
                 ctx.config.data_dir.resolve() / "models" / "current" / "bundle.json"):
        r = httpx.get(f"{url}gradio_api/file={path}", cookies=cookies, timeout=30)
        assert r.status_code in (403, 404), (path, r.status_code)
        assert b"SQLite" not in r.content and b"root:" not in r.content


def test_an_export_is_readable_only_by_its_owner_and_only_for_a_while(server, clients):
    from gradio_client import Client, handle_file

    ctx, url = server
    olga = Client(url, auth=("olga", password("olga")), verbose=False, download_files=False)
    sha = olga.predict([handle_file(str(a_photo(Path(ctx.config.photo_roots[0]))))],
                       None, api_name="/identify")["results"][0]["sha256"]
    olga.predict(sha, "AWB-EXPORT-1", "", "detained", api_name="/save_case")
    _, _, files = olga.predict("AWB-EXPORT", "", "", "", "", api_name="/history")
    cached = Path(next(f["path"] for f in files if f["path"].endswith(".csv")))
    name = cached.name
    assert cached.stat().st_mode & 0o077 == 0  # owner-only on disk too
    file_url = f"{url}gradio_api/file={cached}"
    mine = httpx.get(file_url, cookies=olga.cookies, timeout=30)
    assert mine.status_code == 200 and "AWB-EXPORT-1" in mine.text
    theirs = httpx.get(file_url, cookies=clients("oscar").cookies, timeout=30)
    assert theirs.status_code == 404 and "AWB-EXPORT-1" not in theirs.text
    assert httpx.get(file_url, timeout=30).status_code in (401, 403, 404)  # signed out
    ctx.exports._items[name] = ctx.exports._items[name].__class__("olga", time.time() - 1)  # expire it
    assert httpx.get(file_url, cookies=olga.cookies, timeout=30).status_code == 404
    assert not cached.exists()  # swept from Gradio's cache
    olga.close()


@pytest.mark.parametrize("bad", ["\x00", "\x1b[31mred", "\u202egpj.exe", "\x7f", "\x08"])
def test_case_text_with_control_characters_is_refused(server, clients, bad):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    ctx, _ = server
    olga = clients("olga")
    photo = a_photo(Path(ctx.config.photo_roots[0]))
    sha = olga.predict([handle_file(str(photo))], None, api_name="/identify")["results"][0]["sha256"]
    before = len(ctx.store.list_cases())
    with pytest.raises(AppError, match="control character"):
        olga.predict(sha, f"AWB-{bad}", "", "detained", api_name="/save_case")
    with pytest.raises(AppError, match="control character"):
        olga.predict(sha, "AWB-1", f"note {bad}", "detained", api_name="/save_case")
    assert len(ctx.store.list_cases()) == before


def test_case_text_keeps_line_breaks_and_tabs(server, clients):
    from gradio_client import handle_file

    ctx, _ = server
    olga = clients("olga")
    sha = olga.predict([handle_file(str(a_photo(Path(ctx.config.photo_roots[0]))))], None,
                       api_name="/identify")["results"][0]["sha256"]
    _, case = olga.predict(sha, "AWB-2", "line one\r\n\tline two", "detained", api_name="/save_case")
    assert case["note"] == "line one\n\tline two"  # a Windows line break is kept as a line break


@pytest.mark.parametrize("sid", [10**30, -1, 0])
def test_numeric_ids_are_bounded_and_validated(clients, sid):
    from gradio_client.exceptions import AppError

    tina = clients("tina")
    with pytest.raises(AppError, match="quiz id"):
        tina.predict(sid, api_name="/quiz_next")
    q = tina.predict("all", 2, "medium", False, "common", api_name="/quiz_start")[2]
    chosen = q["choices"][0]["value"]  # a choice this session's page offers
    with pytest.raises(AppError, match="quiz id"):
        tina.predict(sid, q["question_id"], chosen, False, api_name="/quiz_answer")
    with pytest.raises(AppError, match="question id"):
        tina.predict(q["session_id"], sid, chosen, False, api_name="/quiz_answer")
    with pytest.raises(AppError, match="quiz id"):
        tina.predict(sid, api_name="/quiz_finish")


def test_cohort_days_and_quiz_length_are_bounded(clients):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="days"):
        clients("trev").predict(0.85, 10**30, api_name="/cohort")
    with pytest.raises(AppError, match="quiz length|greater than maximum"):
        clients("tess").predict("all", 10**30, "medium", False, "common", api_name="/quiz_start")


def test_compare_names_only_versions_in_the_models_folder_and_reveals_nothing(server, clients):
    from gradio_client.exceptions import AppError

    ctx, _ = server
    trev = clients("trev")
    messages = {}
    for path in ("/etc", "/no/such/folder", "../../etc", "current", str(ctx.config.models_dir / "current")):
        with pytest.raises(AppError) as err:
            trev.predict(path, api_name="/trainer_compare")
        messages[path] = str(err.value).replace(path[:80], "<name>")
    assert len(set(messages.values())) == 1, messages  # the same words whether it exists or not
    assert "models folder" in messages["/etc"]


# --- item 2: Identify cannot answer quiz questions ----------------------------------------------


def test_a_trainee_with_an_open_quiz_is_refused_identify(server, clients):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    ctx, _ = server
    tara = clients("tara")
    photo = handle_file(str(a_photo(Path(ctx.config.photo_roots[0]))))
    assert tara.predict([photo], None, api_name="/identify")["results"]  # practice is allowed
    q = tara.predict("all", 30, "hard", False, "common", api_name="/quiz_start")[2]
    with pytest.raises(AppError, match=f"quiz {q['session_id']} is open"):
        tara.predict([photo], None, api_name="/identify")
    with pytest.raises(AppError, match="quiz .* is open"):
        tara.predict(None, photo, api_name="/identify")  # the camera input too
    tara.predict(q["session_id"], api_name="/quiz_finish")
    assert tara.predict([photo], None, api_name="/identify")["results"]  # open again


def test_an_officer_identifying_closes_their_open_quiz(server, clients):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    ctx, _ = server
    otto = clients("otto")
    q = otto.predict("all", 5, "hard", False, "common", api_name="/quiz_start")[2]
    photo = handle_file(str(a_photo(Path(ctx.config.photo_roots[0]))))
    assert otto.predict([photo], None, api_name="/identify")["results"]  # never held up at work
    assert ctx.store.get_quiz(q["session_id"]).finished_at is not None
    with pytest.raises(AppError, match="finished"):
        otto.predict(q["session_id"], q["question_id"], q["choices"][0]["value"], False,
                     api_name="/quiz_answer")


def test_a_new_quiz_never_repeats_photos_of_earlier_ones(server, clients):
    ctx, _ = server
    tess = clients("tess")
    first = tess.predict("all", 20, "medium", True, "common", api_name="/quiz_start")[2]
    tess.predict(first["session_id"], api_name="/quiz_finish")
    second = tess.predict("all", 20, "medium", True, "common", api_name="/quiz_start")[2]
    photos = [{q.public["photo_id"] for q in ctx.store.get_quiz(x["session_id"]).questions}
              for x in (first, second)]
    assert len(photos[0]) == len(photos[1]) == 20 and not photos[0] & photos[1]
