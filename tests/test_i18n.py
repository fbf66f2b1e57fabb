"""The translation layer: complete languages have every key, fallback is visible, placeholders fill."""
import json
import re
import string

import pytest

from serve import i18n
from serve.i18n import COMPLETE_LANGUAGES, FALLBACK_MARK, LANGUAGES, Message, strings, t


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_key_exists_in_every_complete_language():
    english = strings("en")
    assert english, "no English strings"
    for lang in COMPLETE_LANGUAGES:
        missing = sorted(set(english) - set(strings(lang)))
        assert not missing, f"{lang} lacks {len(missing)} keys, e.g. {missing[:5]}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders_of_english(lang):
    english = strings("en")
    for key, text in strings(lang).items():
        assert key in english, f"{lang}: key {key!r} does not exist in English"
        assert _placeholders(text) == _placeholders(english[key]), f"{lang}:{key} placeholders differ"
        assert text.strip(), f"{lang}:{key} is blank"


def test_no_language_file_defines_a_key_twice():
    for lang in LANGUAGES:
        strings.cache_clear()
        strings(lang)  # raises on a clash between domain files


def test_missing_key_falls_back_to_english_visibly(tmp_path, monkeypatch):
    (tmp_path / "en").mkdir()
    (tmp_path / "fr").mkdir()
    (tmp_path / "en" / "x.json").write_text(json.dumps({"hello": "Hello {name}", "bye": "Bye"}))
    (tmp_path / "fr" / "x.json").write_text(json.dumps({"hello": "Bonjour {name}"}))
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    strings.cache_clear()
    try:
        assert t("hello", "fr", name="Ana") == "Bonjour Ana"
        assert t("bye", "fr") == FALLBACK_MARK + "Bye"
        assert t("bye", "en") == "Bye"
        with pytest.raises(KeyError, match="nope"):
            t("nope", "fr")
    finally:
        strings.cache_clear()


def test_browser_language_codes_are_normalised():
    assert i18n.normalise_language("pt-BR") == "pt"
    assert i18n.normalise_language("fr_CM") == "fr"
    assert i18n.normalise_language("de-DE") == "en"
    assert i18n.normalise_language(None) == "en"


@pytest.mark.parametrize("lang", COMPLETE_LANGUAGES)
def test_a_decision_message_renders_in_each_language_with_its_placeholders_filled(lang):
    text = Message("decision.identified.very_likely", {"name": "Xyz", "confidence": 0.93}).render(lang)
    assert "Xyz" in text and "93" in text
    assert not text.startswith(FALLBACK_MARK)
    assert not re.search(r"\{[a-z_]+", text)


def test_cites_appendix_uses_the_official_term_per_language():
    expected = {"en": "Appendix I", "fr": "Annexe I", "es": "Apéndice I", "pt": "Anexo I", "id": "Apendiks I"}
    for lang, term in expected.items():
        assert term in t("decision.cites.appendix_i", lang), lang


def test_french_typography_puts_a_narrow_no_break_space_before_high_punctuation():
    nn = i18n.NARROW_NBSP
    assert i18n.typeset("Si c'est exact : Annexe I ; voir ci-dessous !", "fr") == \
        f"Si c'est exact{nn}: Annexe I{nn}; voir ci-dessous{nn}!"
    assert i18n.typeset("**Nom:** Tigre. Quoi? 93% « oui »", "fr") == \
        f"**Nom{nn}:** Tigre. Quoi{nn}? 93{nn}% «{nn}oui{nn}»"
    # never inside URLs, times, HTML entities or attributes
    for untouched in ("https://cites.org/eng/app/appendices.php?x=1", "12:30", "A &amp;B", 'style="height:240px;x:1"'):
        assert i18n.typeset(untouched, "fr") == untouched
    once = i18n.typeset("Note : 93 %", "fr")
    assert i18n.typeset(once, "fr") == once  # idempotent
    assert i18n.typeset("Note : 93 %", "en") == "Note : 93 %"  # French only
    assert t("decision.identified.very_likely", "fr", name="Tigre", confidence=0.93).endswith(
        f"(93{nn}% de confiance du modèle).")
    assert "93%" in t("decision.identified.very_likely", "en", name="Tiger", confidence=0.93)


def test_the_english_detector_of_the_french_walk_finds_english_and_only_english():
    from species_data import load_catalogue
    from tests.untranslated import EnglishDetector

    detector = EnglishDetector("fr")
    tiger = load_catalogue()["tiger"]
    english = ["Drop File Here", "Click to Upload", t("app.quiz.intro", "en"), t("app.history.search", "en"),
               tiger.cues_in("en").value[0], tiger.cites.note, "common.complete",
               FALLBACK_MARK + "Scientific name", "number input for Nombre de questions",
               "IFAW (Dec 2025): CoP20 rejects proposals to reopen rhino horn and ivory trade"[6:]]
    french = [t("app.quiz.intro", "fr"), t("app.history.search", "fr"), tiger.cues_in("fr").value[0],
              tiger.cites.note_in("fr").value, "Jaguar", "Photos", "olga", "v1", "Panthera tigris",
              "IFAW (Dec 2025) : CoP20 rejects proposals to reopen rhino horn and ivory trade"]  # a citation
    assert [f.text for f in detector.findings(english)] == [" ".join(x.split()) for x in english]
    assert detector.findings(french) == []
