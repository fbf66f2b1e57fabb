"""The seizure fields as form inputs, shared by the Identify tab's save form and History's
edit form: the components (labels and choices in the user's language), and the conversions
between their values and a checked `Seizure`.

Defaults a busy officer needs: today's date, the model's answer as the commodity when it
identified one, and the place, country, direction, transport, concealment and detection
method of the officer's last saved case (kept in the database, so they follow the
officer to any PC and any app process).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

import gradio as gr

from serve.i18n import t
from serve.records.seizure import (Concealment, DetectionMethod, Direction, Seizure,
                                   TransportMode, Unit)
from serve.ui.common import Texts

# The inputs, in form order (scientific name and CITES appendix are copied, not typed).
FIELDS = ("seizure_date", "place", "country", "direction", "transport_mode", "conveyance_ref",
          "detection_method", "concealment", "concealment_detail", "declared_description",
          "commodity", "quantity", "unit", "weight_kg", "origin_country",
          "transit_countries", "destination_country")
ENUMS = {"direction": Direction, "transport_mode": TransportMode, "concealment": Concealment,
         "unit": Unit, "detection_method": DetectionMethod}
REMEMBERED = ("place", "country", "direction", "transport_mode", "detection_method",
              "concealment")


def _choices(field: str):
    values = [m.value for m in ENUMS[field]]
    return lambda lang: [(t("seizures.none", lang), "")] + [
        (t(f"seizures.{field}.{v}", lang), v) for v in values]


def build_seizure_inputs(texts: Texts, catalogue_choices) -> list[Any]:
    """Lay out the inputs (inside the caller's container); returns them in `FIELDS` order.
    `catalogue_choices(lang)` gives [(name, id)] for the commodity dropdown."""
    made: dict[str, Any] = {}

    def label(field: str, component):
        made[field] = texts.label(component, f"seizures.field.{field}",
                                  info=f"seizures.info.{field}" if field in INFO else None)

    def enum(field: str):
        made[field] = texts.choices(gr.Dropdown(choices=[("", "")], value=""),
                                    f"seizures.field.{field}", _choices(field))

    with gr.Row():
        label("seizure_date", gr.DateTime(include_time=False, type="string"))  # a calendar
        label("place", gr.Textbox(max_length=200))
        label("country", gr.Textbox(max_length=2))
        enum("direction")
    with gr.Row():
        enum("transport_mode")
        label("conveyance_ref", gr.Textbox(max_length=200))
        enum("detection_method")
        enum("concealment")
    with gr.Row():
        label("concealment_detail", gr.Textbox(max_length=2000))
        label("declared_description", gr.Textbox(max_length=2000))
    with gr.Row():
        made["commodity"] = texts.choices(
            gr.Dropdown(choices=[("", "")], value="", allow_custom_value=True),
            "seizures.field.commodity", lambda lang: [("", "")] + catalogue_choices(lang))
        label("quantity", gr.Number(minimum=0))
        enum("unit")
        label("weight_kg", gr.Number(minimum=0))
    with gr.Row():
        label("origin_country", gr.Textbox(max_length=2))
        label("transit_countries", gr.Textbox(max_length=40))
        label("destination_country", gr.Textbox(max_length=2))
    return [made[f] for f in FIELDS]


INFO = {"country", "origin_country", "transit_countries", "destination_country", "seizure_date"}


def seizure_from_inputs(values: Sequence[Any], catalogue) -> Seizure:
    """A checked `Seizure` from the inputs' values (`FIELDS` order), the commodity's
    catalogue facts copied in. Raises ValueError naming a bad value."""
    if len(values) != len(FIELDS):
        raise ValueError(f"expected {len(FIELDS)} seizure values ({', '.join(FIELDS)}), "
                         f"got {len(values)}")
    plain = {f: ("" if v is None else v) for f, v in zip(FIELDS, values)}
    return Seizure.parse(plain).with_commodity(catalogue)


def inputs_from_seizure(seizure: Seizure) -> list[Any]:
    """The inputs' values for an existing seizure (`FIELDS` order)."""
    d = seizure.to_dict()
    d["transit_countries"] = ", ".join(seizure.transit_countries)
    return [("" if d[f] is None and f not in ("quantity", "weight_kg") else d[f]) for f in FIELDS]


def default_inputs(last: Seizure | None, commodity: str | None) -> list[Any]:
    """Values for a new case: today, the suggested commodity, the remembered fields of the
    officer's last case, the rest empty."""
    values = {f: "" for f in FIELDS}
    values.update({"quantity": None, "weight_kg": None, "unit": Unit.PIECES.value})
    if last is not None:
        for f in REMEMBERED:
            v = getattr(last, f)
            values[f] = "" if v is None else getattr(v, "value", v)
    values["seizure_date"] = datetime.now(timezone.utc).date().isoformat()
    values["commodity"] = commodity or ""
    return [values[f] for f in FIELDS]


def catalogue_choices(ctx, lang: str) -> list[tuple[str, str]]:
    """(display name, id) of every catalogue entry, by name, re-read each page load so an
    entry a trainer just added is offered."""
    return sorted(((e.common_name(lang), e.id) for e in ctx.catalogue()), key=lambda x: x[0])
