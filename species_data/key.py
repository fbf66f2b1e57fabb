"""What an officer can see of an item without a model: the attributes of the identification key.

Why: horn, scales, fins, timber and most products have no photos to train on, so the model
cannot recognise them. A multi-access key (like the Lucid keys taxonomists use) lets the
officer narrow the catalogue down by answering questions about what is in front of them,
in any order, with "can't tell" always allowed (the questions are asked by
`serve.identify.key`).

Each entry carries a `KeyAttributes`: for each `Attribute`, the set of values an officer
may truthfully give for that entry (a rosewood entry may be `wood` *or* a `carving or
finished item`). An attribute an entry does not state is unknown: the entry stays in play
whatever the answer. The first value listed is the most typical one (what a simulated
officer answers in `bench/key_simulation.py`).

In an entry file::

    key:
      form: [horn_tooth_tusk_bone, carving_or_finished_item]
      animal_group: mammal
      size: [small, medium, large]
      material: ivory_like
      pattern: crosshatch
      colour: [white_cream, yellow_amber]

The words officers read (questions, values) are translated in `serve/locales/*/key.json`
(`key.question.<attribute>`, `key.value.<attribute>.<value>`).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping


class Form(enum.Enum):
    LIVE_ANIMAL = "live_animal"
    WHOLE_DEAD_ANIMAL = "whole_dead_animal"  # stuffed, frozen, dried whole
    SKIN_OR_FUR = "skin_or_fur"  # raw or tanned skins, leather goods, fur, shawls
    HORN_TOOTH_TUSK_BONE = "horn_tooth_tusk_bone"  # raw hard parts, not carved
    SCALES_OR_SHELL = "scales_or_shell"  # pangolin scales, turtle shell, clam and conch shells
    CARVING_OR_FINISHED_ITEM = "carving_or_finished_item"  # carvings, jewellery, furniture
    MEAT_FIN_DRIED_PARTS = "meat_fin_dried_parts"  # meat, fins, swim bladders, dried animals
    WOOD = "wood"  # logs, planks, chips
    PLANT = "plant"  # live or dried plants, roots
    LIQUID_OR_POWDER = "liquid_or_powder"  # oils, bile, powders, pills, caviar


class AnimalGroup(enum.Enum):
    MAMMAL = "mammal"
    BIRD = "bird"
    REPTILE = "reptile"
    FISH = "fish"  # including sharks, rays and eels
    INVERTEBRATE = "invertebrate"  # corals, shells, sea cucumbers
    PLANT = "plant"
    MAN_MADE = "man_made"  # resin, plastic, ceramic, porcelain


class Shape(enum.Enum):  # of a whole animal, or of the animal a skin came from
    CAT_LIKE = "cat_like"
    DOG_LIKE = "dog_like"
    BEAR_LIKE = "bear_like"
    PRIMATE = "primate"  # hands that grip: apes, monkeys, lorises
    OTTER_OR_WEASEL_LIKE = "otter_or_weasel_like"  # long, low body, short legs
    HOOFED_OR_GIANT = "hoofed_or_giant"  # elephants, rhinos, giraffes, deer, antelopes
    SCALED_MAMMAL = "scaled_mammal"  # pangolins
    BIRD = "bird"
    SNAKE_OR_EEL_LIKE = "snake_or_eel_like"  # long, no legs
    LIZARD_OR_CROCODILE = "lizard_or_crocodile"
    TURTLE_OR_TORTOISE = "turtle_or_tortoise"
    FISH_OR_RAY = "fish_or_ray"


class Size(enum.Enum):  # of one piece or one animal, its longest side
    TINY = "tiny"  # under 2 cm
    SMALL = "small"  # 2-15 cm, fits in a hand
    MEDIUM = "medium"  # 15-60 cm
    LARGE = "large"  # 60 cm - 2 m
    VERY_LARGE = "very_large"  # over 2 m


class Material(enum.Enum):
    FUR_OR_HAIR = "fur_or_hair"
    FEATHERS = "feathers"
    SCALY_SKIN = "scaly_skin"  # reptile skin, scutes
    SMOOTH_SKIN_OR_LEATHER = "smooth_skin_or_leather"
    KERATIN_PLATES = "keratin_plates"  # pangolin scales, tortoiseshell, hornbill casque
    IVORY_LIKE = "ivory_like"  # dense, cream, polishes well
    BONE = "bone"
    HORN = "horn"  # fibrous keratin horn
    SHELL_OR_CORAL = "shell_or_coral"  # calcium carbonate: coral, clam, conch
    WOOD = "wood"
    PLANT_TISSUE = "plant_tissue"  # leaves, stems, roots, flowers
    FLESH_OR_CARTILAGE = "flesh_or_cartilage"  # meat, fins, swim bladders, dried bodies
    FIBRE_OR_CLOTH = "fibre_or_cloth"
    LIQUID = "liquid"
    POWDER_OR_GRAINS = "powder_or_grains"  # powder, crystals, pills, eggs (roe)
    RESIN_OR_PLASTIC = "resin_or_plastic"
    CERAMIC_OR_GLAZE = "ceramic_or_glaze"


class Pattern(enum.Enum):
    SPOTS_OR_ROSETTES = "spots_or_rosettes"
    STRIPES = "stripes"
    PLAIN = "plain"  # even colour, no marks
    MOTTLED_OR_BLOTCHED = "mottled_or_blotched"
    RINGS_OR_BANDS = "rings_or_bands"  # growth rings, concentric lines, bands
    GRAIN_LINES = "grain_lines"  # parallel lines, wood grain, fibres
    CROSSHATCH = "crosshatch"  # Schreger lines: chequerboard on a cut end
    PITS_OR_DOTS = "pits_or_dots"  # tiny dark pits (bone), pores
    RIDGES = "ridges"  # lengthwise ridges or grooves
    SPIRAL = "spiral"
    STAR_OR_RADIATING_LINES = "star_or_radiating_lines"


class Colour(enum.Enum):
    WHITE_CREAM = "white_cream"
    YELLOW_AMBER = "yellow_amber"
    BROWN = "brown"
    BLACK_GREY = "black_grey"
    RED_PINK = "red_pink"
    ORANGE = "orange"
    GREEN = "green"
    BLUE = "blue"
    TRANSLUCENT = "translucent"  # see-through (glass eels, fine gels)


class Attribute(enum.Enum):
    """The key's questions, in the order they are offered when equally useful."""

    FORM = "form"
    ANIMAL_GROUP = "animal_group"
    SHAPE = "shape"
    SIZE = "size"
    MATERIAL = "material"
    PATTERN = "pattern"
    COLOUR = "colour"

    @property
    def values(self) -> tuple[enum.Enum, ...]:
        return tuple(VALUE_TYPES[self])

    def value_of(self, text: str) -> enum.Enum:
        """The value called `text` ('wood'); ValueError naming the choices otherwise."""
        try:
            return VALUE_TYPES[self](text)
        except ValueError:
            choices = ", ".join(v.value for v in VALUE_TYPES[self])
            raise ValueError(f"{text!r} is not a value of the key attribute {self.value!r}; "
                             f"use one of {choices}") from None


VALUE_TYPES: Mapping[Attribute, type[enum.Enum]] = MappingProxyType({
    Attribute.FORM: Form, Attribute.ANIMAL_GROUP: AnimalGroup, Attribute.SHAPE: Shape, Attribute.SIZE: Size,
    Attribute.MATERIAL: Material, Attribute.PATTERN: Pattern, Attribute.COLOUR: Colour,
})


@dataclass(frozen=True)
class KeyAttributes:
    """Per attribute, the values an officer may truthfully give (first = most typical)."""

    traits: Mapping[Attribute, tuple[enum.Enum, ...]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "traits", MappingProxyType(
            {a: tuple(self.traits[a]) for a in Attribute if self.traits.get(a)}))

    def of(self, attribute: Attribute) -> tuple[enum.Enum, ...]:
        """The entry's values for `attribute`; () when the entry does not say (unknown)."""
        return self.traits.get(attribute, ())

    def typical(self, attribute: Attribute) -> enum.Enum | None:
        values = self.of(attribute)
        return values[0] if values else None

    def matches(self, attribute: Attribute, value: enum.Enum | None) -> bool:
        """Does the answer `value` keep this entry? ("can't tell" = None and unknowns keep it.)"""
        values = self.of(attribute)
        return value is None or not values or value in values

    def __hash__(self) -> int:
        return hash(tuple(self.traits.items()))


def parse_key(raw: Any) -> tuple[KeyAttributes | None, list[tuple[str, str]]]:
    """The `key:` mapping of an entry file -> (attributes or None, [(field, problem), ...])."""
    if raw is None:
        return None, []
    if not isinstance(raw, Mapping):
        return None, [("key", f"must be a mapping of attribute to values, e.g. form: [wood], got {raw!r}")]
    problems: list[tuple[str, str]] = []
    traits: dict[Attribute, tuple[enum.Enum, ...]] = {}
    for name, value in raw.items():
        try:
            attribute = Attribute(name)
        except ValueError:
            problems.append((f"key.{name}", "is not a key attribute; use "
                             + ", ".join(a.value for a in Attribute)))
            continue
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            problems.append((f"key.{name}", f"must be a value or a non-empty list of values, got {value!r}"))
            continue
        parsed = []
        for item in items:
            try:
                parsed.append(attribute.value_of(item if isinstance(item, str) else repr(item)))
            except ValueError as exc:
                problems.append((f"key.{name}", str(exc)))
        if len(set(parsed)) != len(parsed):
            problems.append((f"key.{name}", "lists a value twice"))
        traits[attribute] = tuple(parsed)
    if problems:
        return None, problems
    return KeyAttributes(traits), []


def key_to_mapping(attributes: KeyAttributes) -> dict[str, list[str]]:
    return {a.value: [v.value for v in attributes.of(a)] for a in Attribute if attributes.of(a)}
