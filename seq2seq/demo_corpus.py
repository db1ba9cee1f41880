"""A synthetic English->German parallel corpus: the toolkit's built-in demo data.

Sentences come from a small grammar and lexicon written below, drawn with a seeded
``random.Random``: nothing is downloaded, and one seed always gives the same corpus (on
every Python from 3.10 on). The corpus is small enough for a GRU encoder-decoder to learn
in minutes on a CPU, and rich enough that it must learn German grammar to do so.

Every English sentence has exactly one German translation: "you" is always "du", "you
all" is "ihr", "teacher" is "Lehrer", English has the simple present only and German
the present tense. Sentences have 4 to 14 English words (8.3 on average, 7.6 German).

Phenomena, with a pair for each:

- Verb-second main clauses; a fronted time phrase moves the subject behind the verb.
  "Today the man sees the dog." -> "Heute sieht der Mann den Hund."
- Verb-final subordinate clauses after a comma (weil, obwohl, wenn, dass).
  "The child laughs, because the woman reads a book." ->
  "Das Kind lacht, weil die Frau ein Buch liest."
  "The man says that the dog sleeps." -> "Der Mann sagt, dass der Hund schläft."
- A fronted subordinate clause takes the first position of the main clause.
  "When the dog sleeps, the cat plays." -> "Wenn der Hund schläft, spielt die Katze."
- Yes/no questions put the finite verb first (English uses do-support).
  "Does the girl drink milk?" -> "Trinkt das Mädchen Milch?"
- Modal verbs send the infinitive to the end (können, wollen, müssen).
  "The boy wants to read the book." -> "Der Junge will das Buch lesen."
- Separable verbs split in main clauses and join in subordinate clauses.
  "The woman calls the man." -> "Die Frau ruft den Mann an."
  "..., because the woman calls the man." -> "..., weil die Frau den Mann anruft."
- Articles and adjectives inflect for gender, case and number, with weak, mixed and
  strong adjective endings; weak masculine nouns take -n; dative plurals take -n.
  "The small dog sees a small horse." -> "Der kleine Hund sieht ein kleines Pferd."
  "The woman helps the old man." -> "Die Frau hilft dem alten Mann."
  "Two big dogs play with the children." -> "Zwei große Hunde spielen mit den Kindern."
  "The teacher sees the boy." -> "Der Lehrer sieht den Jungen."
- Dative and accusative objects: indirect objects, dative verbs, prepositions with a
  fixed case (mit, von + dative; für, ohne + accusative) and in/an for place (dative)
  against into/to for direction (accusative / zu + dative), with contractions.
  "The man gives the child a ball." -> "Der Mann gibt dem Kind einen Ball."
  "The woman goes into the house." -> "Die Frau geht ins Haus."
  "The child sleeps in the garden." -> "Das Kind schläft im Garten."
  "The man goes into the city without the dog." -> "Der Mann geht ohne den Hund in die Stadt."
  "The woman receives a letter from the friend." -> "Die Frau bekommt einen Brief vom Freund."
- Irregular plurals (English and German) and subject-verb agreement, with the stem
  changes of strong verbs and e-insertion.
  "The women eat apples." -> "Die Frauen essen Äpfel."
  "You drive the car." -> "Du fährst das Auto."
  "You all wait in the park." -> "Ihr wartet im Park."
- Compounds: an English two-noun phrase is one German noun with the head's gender.
  "The children see the apple tree." -> "Die Kinder sehen den Apfelbaum."
  "The boy takes the school bus." -> "Der Junge nimmt den Schulbus."
- Personal pronouns in three cases, and possessives (ein-words).
  "She gives him my book." -> "Sie gibt ihm mein Buch."
- Negation: "kein" for an indefinite accusative object, "nicht" otherwise.
  "The man does not read a book." -> "Der Mann liest kein Buch."
  "The man does not read the book." -> "Der Mann liest das Buch nicht."
- Predicative adjectives stay uninflected: "The tea is hot." -> "Der Tee ist heiß."

German sentences use umlauts and ß (Äpfel, Häuser, groß, weiß), capitalise every noun,
and, like the English ones, start with a capital letter and end in "." or "?".

:func:`generate_pairs` draws pairs; :func:`generate_corpus` makes train, validation and
test splits, validation and test sentences being unique and absent from train;
:func:`write_corpus` and the ``seq2seq-demo-corpus`` command write them as text files.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_SIZES = {"train": 30000, "validation": 1000, "test": 1000}
DEFAULT_SEED = 1234
SPLITS = ("train", "validation", "test")
MIN_WORDS, MAX_WORDS = 4, 14
"""Bounds on the number of English words (whitespace tokens) of a sentence."""

PERSONS = ("1sg", "2sg", "3sg", "1pl", "2pl", "3pl")


# ---------------------------------------------------------------------------------------
# Lexicon
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preposition:
    """A preposition and the German case it governs."""

    english: str
    german: str
    case: str


WITH = Preposition("with", "mit", "dat")
WITHOUT = Preposition("without", "ohne", "acc")
FOR = Preposition("for", "für", "acc")
FROM = Preposition("from", "von", "dat")
IN = Preposition("in", "in", "dat")
INTO = Preposition("into", "in", "acc")
AT = Preposition("at", "an", "dat")
TO = Preposition("to", "zu", "dat")

CONTRACTIONS = {("in", "dem"): "im", ("in", "das"): "ins", ("an", "dem"): "am",
                ("zu", "dem"): "zum", ("zu", "der"): "zur", ("von", "dem"): "vom"}
"""German preposition + definite article that always contract."""


@dataclass(frozen=True)
class Noun:
    """A noun in both languages; ``oblique`` is the accusative/dative singular of weak nouns."""

    english: str
    english_plural: str
    german: str
    german_plural: str
    gender: str
    tags: frozenset[str]
    oblique: str | None = None
    countable: bool = True
    location: Preposition | None = None
    direction: Preposition | None = None


def _nouns(table: str, *, countable: bool = True) -> list[Noun]:
    """Parse ``english|plural|German|Plural|gender|tags[|oblique]`` lines."""
    nouns = []
    for line in table.strip().splitlines():
        english, english_plural, german, german_plural, gender, tags, *oblique = line.split("|")
        tag_set = frozenset(tags.split())
        location, direction = (AT, TO) if "at_place" in tag_set else (IN, INTO)
        is_place = "place" in tag_set
        nouns.append(Noun(english, english_plural, german, german_plural, gender, tag_set,
                          oblique[0] if oblique else None, countable,
                          location if is_place else None, direction if is_place else None))
    return nouns


_COUNTABLE_NOUNS = _nouns("""
man|men|Mann|Männer|m|person animate generic
woman|women|Frau|Frauen|f|person animate generic
child|children|Kind|Kinder|n|person animate
boy|boys|Junge|Jungen|m|person animate|Jungen
girl|girls|Mädchen|Mädchen|n|person animate
teacher|teachers|Lehrer|Lehrer|m|person animate
student|students|Student|Studenten|m|person animate|Studenten
friend|friends|Freund|Freunde|m|person animate
mother|mothers|Mutter|Mütter|f|person animate
father|fathers|Vater|Väter|m|person animate
brother|brothers|Bruder|Brüder|m|person animate
sister|sisters|Schwester|Schwestern|f|person animate
grandmother|grandmothers|Großmutter|Großmütter|f|person animate
doctor|doctors|Arzt|Ärzte|m|person animate
baker|bakers|Bäcker|Bäcker|m|person animate
farmer|farmers|Bauer|Bauern|m|person animate|Bauern
neighbour|neighbours|Nachbar|Nachbarn|m|person animate|Nachbarn
king|kings|König|Könige|m|person animate
dog|dogs|Hund|Hunde|m|animal animate
cat|cats|Katze|Katzen|f|animal animate catchable
horse|horses|Pferd|Pferde|n|animal animate
bird|birds|Vogel|Vögel|m|animal animate flyer catchable
mouse|mice|Maus|Mäuse|f|animal animate catchable
cow|cows|Kuh|Kühe|f|animal animate
bear|bears|Bär|Bären|m|animal animate|Bären
monkey|monkeys|Affe|Affen|m|animal animate|Affen
lion|lions|Löwe|Löwen|m|animal animate|Löwen
duck|ducks|Ente|Enten|f|animal animate flyer catchable
frog|frogs|Frosch|Frösche|m|animal animate catchable
wolf|wolves|Wolf|Wölfe|m|animal animate
fox|foxes|Fuchs|Füchse|m|animal animate
goose|geese|Gans|Gänse|f|animal animate flyer
pig|pigs|Schwein|Schweine|n|animal animate
apple|apples|Apfel|Äpfel|m|food throwable
cake|cakes|Kuchen|Kuchen|m|food
banana|bananas|Banane|Bananen|f|food
pear|pears|Birne|Birnen|f|food
orange|oranges|Orange|Orangen|f|food throwable
tomato|tomatoes|Tomate|Tomaten|f|food
carrot|carrots|Karotte|Karotten|f|food
egg|eggs|Ei|Eier|n|food cookable
cookie|cookies|Keks|Kekse|m|food
sausage|sausages|Wurst|Würste|f|food cookable
book|books|Buch|Bücher|n|readable openable sendable
letter|letters|Brief|Briefe|m|readable writable openable sendable
newspaper|newspapers|Zeitung|Zeitungen|f|readable
story|stories|Geschichte|Geschichten|f|readable writable tellable
song|songs|Lied|Lieder|n|song writable
ball|balls|Ball|Bälle|m|thing throwable catchable
key|keys|Schlüssel|Schlüssel|m|thing throwable
cup|cups|Tasse|Tassen|f|thing
glass|glasses|Glas|Gläser|n|thing
picture|pictures|Bild|Bilder|n|thing sendable
chair|chairs|Stuhl|Stühle|m|thing
table|tables|Tisch|Tische|m|thing
bag|bags|Tasche|Taschen|f|thing openable
hat|hats|Hut|Hüte|m|thing throwable
shoe|shoes|Schuh|Schuhe|m|thing
box|boxes|Kiste|Kisten|f|thing openable
flower|flowers|Blume|Blumen|f|thing plant sendable
lamp|lamps|Lampe|Lampen|f|thing
window|windows|Fenster|Fenster|n|openable
door|doors|Tür|Türen|f|openable
car|cars|Auto|Autos|n|vehicle
bus|buses|Bus|Busse|m|vehicle
bicycle|bicycles|Fahrrad|Fahrräder|n|vehicle
train|trains|Zug|Züge|m|vehicle
boat|boats|Boot|Boote|n|vehicle
tree|trees|Baum|Bäume|m|plant
park|parks|Park|Parks|m|place
garden|gardens|Garten|Gärten|m|place own
kitchen|kitchens|Küche|Küchen|f|place own
city|cities|Stadt|Städte|f|place
school|schools|Schule|Schulen|f|place
forest|forests|Wald|Wälder|m|place
village|villages|Dorf|Dörfer|n|place
room|rooms|Zimmer|Zimmer|n|place own
house|houses|Haus|Häuser|n|place own
hospital|hospitals|Krankenhaus|Krankenhäuser|n|place
library|libraries|Bibliothek|Bibliotheken|f|place
station|stations|Bahnhof|Bahnhöfe|m|place at_place
lake|lakes|See|Seen|m|place at_place
""")
"""Countable nouns. Tags choose the verbs and adjectives a noun goes with. Places take
in/into, or at/to where tagged ``at_place``; as a place, only an ``own`` one takes a
possessive ("in my room"). ``generic`` nouns never do ("my man" means something else)."""

_MASS_NOUNS = _nouns("""
water|water|Wasser|Wasser|n|drink
milk|milk|Milch|Milch|f|drink
coffee|coffee|Kaffee|Kaffee|m|drink cookable
tea|tea|Tee|Tee|m|drink cookable
juice|juice|Saft|Saft|m|drink
bread|bread|Brot|Brot|n|food
soup|soup|Suppe|Suppe|f|food cookable
cheese|cheese|Käse|Käse|m|food
""", countable=False)

_COMPOUNDS = (
    ("school", "Schul", "bus"), ("apple", "Apfel", "tree"), ("apple", "Apfel", "cake"),
    ("apple", "Apfel", "juice"), ("birthday", "Geburtstags", "cake"),
    ("house", "Haus", "key"), ("car", "Auto", "key"), ("kitchen", "Küchen", "table"),
    ("kitchen", "Küchen", "window"), ("flower", "Blumen", "garden"),
    ("school", "Schul", "book"), ("picture", "Bilder", "book"),
    ("children's", "Kinder", "book"), ("children's", "Kinder", "room"),
    ("city", "Stadt", "park"), ("village", "Dorf", "school"), ("coffee", "Kaffee", "cup"),
    ("tea", "Tee", "cup"), ("water", "Wasser", "glass"), ("garden", "Garten", "chair"),
    ("garden", "Garten", "door"), ("tomato", "Tomaten", "soup"), ("bus", "Bus", "station"),
)
"""English modifier, German modifier with its linking element, English head noun."""


def compound(english_modifier: str, german_modifier: str, head: Noun) -> Noun:
    """The compound "modifier head": the head's gender, plural and tags, one German word."""
    return Noun(
        english=f"{english_modifier} {head.english}",
        english_plural=f"{english_modifier} {head.english_plural}",
        german=german_modifier + head.german.lower(),
        german_plural=german_modifier + head.german_plural.lower(),
        gender=head.gender, tags=head.tags, oblique=None, countable=head.countable,
        location=head.location, direction=head.direction,
    )


def _with_compounds(simple: list[Noun]) -> dict[str, Noun]:
    by_english = {noun.english: noun for noun in simple}
    for english_modifier, german_modifier, head in _COMPOUNDS:
        noun = compound(english_modifier, german_modifier, by_english[head])
        by_english[noun.english] = noun
    return by_english


NOUNS: dict[str, Noun] = _with_compounds(_COUNTABLE_NOUNS + _MASS_NOUNS)
"""Every noun by its English singular, compounds included (insertion order is fixed)."""


@dataclass(frozen=True)
class Adjective:
    """An adjective; ``stem`` takes the attributive endings (teuer -> teur-e)."""

    english: str
    german: str
    tags: frozenset[str]
    stem: str


def _adjectives(table: str) -> dict[str, Adjective]:
    """Parse ``english|german|tags[|stem]`` lines; a final -e is not part of the stem."""
    adjectives = {}
    for line in table.strip().splitlines():
        english, german, tags, *stem = line.split("|")
        default_stem = german.removesuffix("e")
        adjectives[english] = Adjective(english, german, frozenset(tags.split()),
                                        stem[0] if stem else default_stem)
    return adjectives


ADJECTIVES = _adjectives("""
big|groß|person animal thing vehicle place plant food
small|klein|person animal thing vehicle place plant food
old|alt|person animal thing vehicle place plant readable
new|neu|thing vehicle place readable
beautiful|schön|person animal thing vehicle place plant song
red|rot|thing vehicle food plant
blue|blau|thing vehicle
green|grün|thing vehicle food plant
white|weiß|thing vehicle animal
black|schwarz|thing vehicle animal
yellow|gelb|thing vehicle food
brown|braun|animal thing
tired|müde|person animal
hungry|hungrig|person animal
happy|glücklich|person
sad|traurig|person
friendly|freundlich|person animal
clever|klug|person animal
lazy|faul|person animal
fast|schnell|animal vehicle
strong|stark|person animal
expensive|teuer|thing vehicle|teur
cheap|billig|thing vehicle
heavy|schwer|thing
dark|dunkel|place|dunkl
quiet|ruhig|place
cold|kalt|drink
hot|heiß|drink
sweet|süß|food drink
fresh|frisch|food drink
interesting|interessant|readable
long|lang|readable song
""")


@dataclass(frozen=True)
class Pronoun:
    """A personal pronoun: English subject/object forms, German nominative/accusative/dative."""

    english_subject: str
    english_object: str
    person: str
    nom: str
    acc: str
    dat: str
    tags: frozenset[str]


_PERSON = frozenset({"person", "animate"})
PRONOUNS = {
    pronoun.english_subject: pronoun for pronoun in (
        Pronoun("I", "me", "1sg", "ich", "mich", "mir", _PERSON),
        Pronoun("you", "you", "2sg", "du", "dich", "dir", _PERSON),
        Pronoun("he", "him", "3sg", "er", "ihn", "ihm", _PERSON),
        Pronoun("she", "her", "3sg", "sie", "sie", "ihr", _PERSON),
        Pronoun("it", "it", "3sg", "es", "es", "ihm", frozenset({"animal", "animate"})),
        Pronoun("we", "us", "1pl", "wir", "uns", "uns", _PERSON),
        Pronoun("you all", "you all", "2pl", "ihr", "euch", "euch", _PERSON),
        Pronoun("they", "them", "3pl", "sie", "sie", "ihnen", _PERSON),
    )
}
"""Personal pronouns by English subject form; "it" only ever stands for an animal subject."""

POSSESSIVES = {"my": "mein", "your": "dein", "his": "sein", "her": "ihr", "our": "unser",
               "their": "ihr"}
NUMBERS = {"two": "zwei", "three": "drei", "four": "vier", "five": "fünf"}

DEFINITE_ARTICLES = {
    "nom": {"m": "der", "f": "die", "n": "das", "pl": "die"},
    "acc": {"m": "den", "f": "die", "n": "das", "pl": "die"},
    "dat": {"m": "dem", "f": "der", "n": "dem", "pl": "den"},
}
EIN_WORD_ENDINGS = {
    "nom": {"m": "", "f": "e", "n": "", "pl": "e"},
    "acc": {"m": "en", "f": "e", "n": "", "pl": "e"},
    "dat": {"m": "em", "f": "er", "n": "em", "pl": "en"},
}
"""Endings of ein, kein and the possessives (mein, unser, ...)."""

ADJECTIVE_ENDINGS = {
    "weak": {"nom": {"m": "e", "f": "e", "n": "e", "pl": "en"},
             "acc": {"m": "en", "f": "e", "n": "e", "pl": "en"},
             "dat": {"m": "en", "f": "en", "n": "en", "pl": "en"}},
    "mixed": {"nom": {"m": "er", "f": "e", "n": "es", "pl": "en"},
              "acc": {"m": "en", "f": "e", "n": "es", "pl": "en"},
              "dat": {"m": "en", "f": "en", "n": "en", "pl": "en"}},
    "strong": {"nom": {"m": "er", "f": "e", "n": "es", "pl": "e"},
               "acc": {"m": "en", "f": "e", "n": "es", "pl": "e"},
               "dat": {"m": "em", "f": "er", "n": "em", "pl": "en"}},
}
"""Attributive adjective endings after der-words (weak), ein-words (mixed) and none (strong)."""


@dataclass(frozen=True)
class Verb:
    """A verb and its frame: what it takes besides a subject.

    Frames: ``intr`` (nothing), ``tr`` (accusative object), ``dat`` (dative object),
    ``ditr`` (dative and accusative object), ``motion`` (a direction), ``copula`` (an
    adjective or a place), ``say`` (a dass-clause). ``german`` is the infinitive without
    the separable ``particle``; ``adjuncts`` lists the optional phrases the verb takes:
    ``loc`` (a place), ``with``, ``for``, ``from``.
    """

    english: str
    german: str
    frame: str
    subject_tags: frozenset[str]
    object_tags: frozenset[str] = frozenset()
    recipient_tags: frozenset[str] = frozenset()
    adjuncts: tuple[str, ...] = ()
    particle: str = ""

    @property
    def infinitive(self) -> str:
        return self.particle + self.german


def _verb(english: str, german: str, frame: str, subject: str, objects: str = "",
          recipients: str = "", adjuncts: str = "", particle: str = "") -> Verb:
    return Verb(english, german, frame, frozenset(subject.split()), frozenset(objects.split()),
                frozenset(recipients.split()), tuple(adjuncts.split()), particle)


_CONCRETE = "person animal thing vehicle food readable plant place openable"
VERBS = (
    _verb("sleep", "schlafen", "intr", "animate", adjuncts="loc"),
    _verb("swim", "schwimmen", "intr", "animate", adjuncts="loc with"),
    _verb("play", "spielen", "intr", "animate", adjuncts="loc with"),
    _verb("wait", "warten", "intr", "person", adjuncts="loc with"),
    _verb("laugh", "lachen", "intr", "person", adjuncts="loc with"),
    _verb("work", "arbeiten", "intr", "person", adjuncts="loc with"),
    _verb("dance", "tanzen", "intr", "person", adjuncts="loc with"),
    _verb("sing", "singen", "intr", "person", adjuncts="loc with"),
    _verb("eat", "essen", "intr", "animate", adjuncts="loc with"),
    _verb("read", "lesen", "intr", "person", adjuncts="loc"),
    _verb("cry", "weinen", "intr", "person", adjuncts="loc"),
    _verb("get up", "stehen", "intr", "person", particle="auf"),
    _verb("wake up", "wachen", "intr", "animate", particle="auf"),
    _verb("see", "sehen", "tr", "animate", _CONCRETE, adjuncts="loc"),
    _verb("read", "lesen", "tr", "person", "readable", adjuncts="loc"),
    _verb("eat", "essen", "tr", "animate", "food", adjuncts="loc with"),
    _verb("drink", "trinken", "tr", "animate", "drink", adjuncts="loc with"),
    _verb("buy", "kaufen", "tr", "person", "food drink thing readable vehicle", adjuncts="for"),
    _verb("find", "finden", "tr", "animate", "thing readable", adjuncts="loc"),
    _verb("need", "brauchen", "tr", "person", "thing vehicle readable"),
    _verb("like", "mögen", "tr", "animate", "person animal food drink"),
    _verb("love", "lieben", "tr", "person", "person animal"),
    _verb("have", "haben", "tr", "person", "thing animal vehicle readable"),
    _verb("carry", "tragen", "tr", "animate", "thing readable", adjuncts="for"),
    _verb("wash", "waschen", "tr", "person", "thing vehicle animal"),
    _verb("hold", "halten", "tr", "person", "thing animal"),
    _verb("draw", "zeichnen", "tr", "person", "person animal plant thing", adjuncts="for"),
    _verb("open", "öffnen", "tr", "person", "openable"),
    _verb("write", "schreiben", "tr", "person", "writable", adjuncts="for"),
    _verb("visit", "besuchen", "tr", "person", "person place"),
    _verb("hear", "hören", "tr", "animate", "person animal song"),
    _verb("sing", "singen", "tr", "person", "song", adjuncts="for"),
    _verb("catch", "fangen", "tr", "animate", "catchable"),
    _verb("throw", "werfen", "tr", "person", "throwable"),
    _verb("take", "nehmen", "tr", "person", "thing readable food vehicle"),
    _verb("know", "kennen", "tr", "person", "person animal place readable song"),
    _verb("meet", "treffen", "tr", "person", "person", adjuncts="loc"),
    _verb("look for", "suchen", "tr", "animate", "thing readable person animal"),
    _verb("cook", "kochen", "tr", "person", "cookable", adjuncts="for"),
    _verb("forget", "vergessen", "tr", "person", "thing readable"),
    _verb("receive", "bekommen", "tr", "person", "thing readable", adjuncts="from"),
    _verb("drive", "fahren", "tr", "person", "vehicle"),
    _verb("call", "rufen", "tr", "person", "person", particle="an"),
    _verb("invite", "laden", "tr", "person", "person", particle="ein"),
    _verb("look at", "sehen", "tr", "animate", _CONCRETE, particle="an"),
    _verb("help", "helfen", "dat", "animate", "animate"),
    _verb("follow", "folgen", "dat", "animate", "animate"),
    _verb("thank", "danken", "dat", "person", "person"),
    _verb("answer", "antworten", "dat", "person", "person"),
    _verb("give", "geben", "ditr", "person", "thing food readable", "animate"),
    _verb("show", "zeigen", "ditr", "person", "thing readable animal vehicle", "person"),
    _verb("bring", "bringen", "ditr", "person", "thing food drink readable", "person"),
    _verb("send", "schicken", "ditr", "person", "sendable", "person"),
    _verb("buy", "kaufen", "ditr", "person", "thing food readable", "person"),
    _verb("sell", "verkaufen", "ditr", "person", "thing vehicle readable", "person"),
    _verb("tell", "erzählen", "ditr", "person", "tellable", "person"),
    _verb("throw", "werfen", "ditr", "person", "throwable", "animate"),
    _verb("go", "gehen", "motion", "person", adjuncts="with"),
    _verb("run", "laufen", "motion", "animate", adjuncts="with"),
    _verb("drive", "fahren", "motion", "person", adjuncts="with"),
    _verb("come", "kommen", "motion", "animate", adjuncts="with"),
    _verb("fly", "fliegen", "motion", "flyer"),
    _verb("be", "sein", "copula", "person animal thing vehicle food drink readable plant"),
    _verb("say", "sagen", "say", "person"),
    _verb("know", "wissen", "say", "person"),
    _verb("think", "denken", "say", "person"),
    _verb("hope", "hoffen", "say", "person"),
)

def find_verb(english: str, frame: str) -> Verb:
    """The verb of :data:`VERBS` with this English base form and frame."""
    for verb in VERBS:
        if verb.english == english and verb.frame == frame:
            return verb
    raise KeyError(f"no verb {english!r} with frame {frame!r}")


STRONG_STEMS = {
    "sehen": "sieh", "lesen": "lies", "geben": "gib", "essen": "iss", "fahren": "fähr",
    "schlafen": "schläf", "laufen": "läuf", "tragen": "träg", "waschen": "wäsch",
    "halten": "hält", "treffen": "triff", "nehmen": "nimm", "helfen": "hilf", "werfen": "wirf",
    "vergessen": "vergiss", "fangen": "fäng", "laden": "läd",
}
"""Present stems of the 2nd and 3rd person singular of strong verbs (du siehst, er sieht)."""

IRREGULAR_PRESENT = {
    "sein": ("bin", "bist", "ist", "sind", "seid", "sind"),
    "haben": ("habe", "hast", "hat", "haben", "habt", "haben"),
    "wissen": ("weiß", "weißt", "weiß", "wissen", "wisst", "wissen"),
    "mögen": ("mag", "magst", "mag", "mögen", "mögt", "mögen"),
    "können": ("kann", "kannst", "kann", "können", "könnt", "können"),
    "wollen": ("will", "willst", "will", "wollen", "wollt", "wollen"),
    "müssen": ("muss", "musst", "muss", "müssen", "müsst", "müssen"),
}
"""Present tense forms in the order of :data:`PERSONS`."""


@dataclass(frozen=True)
class Modal:
    """A modal verb. English "want to" needs do-support in questions and negation."""

    english: str
    german: str
    do_support: bool = False
    english_negated: str | None = None

    @property
    def negatable(self) -> bool:
        return self.do_support or self.english_negated is not None


MODALS = (
    Modal("can", "können", english_negated="cannot"),
    Modal("want to", "wollen", do_support=True),
    Modal("must", "müssen"),
)
"""Modals; "must" is never negated (must not = darf nicht) nor asked about."""


@dataclass(frozen=True)
class Conjunction:
    english: str
    german: str


THAT = Conjunction("that", "dass")
CONJUNCTIONS = (Conjunction("because", "weil"), Conjunction("although", "obwohl"),
                Conjunction("when", "wenn"))
"""Conjunctions of adverbial clauses; "that" (dass) introduces the objects of say-verbs."""

TIME_PHRASES = (
    ("today", "heute"), ("now", "jetzt"), ("sometimes", "manchmal"), ("often", "oft"),
    ("every day", "jeden Tag"), ("in the morning", "am Morgen"),
    ("in the evening", "am Abend"), ("at night", "in der Nacht"),
    ("in the summer", "im Sommer"), ("in the winter", "im Winter"),
    ("on Monday", "am Montag"), ("on Tuesday", "am Dienstag"),
    ("on Wednesday", "am Mittwoch"), ("on Thursday", "am Donnerstag"),
    ("on Friday", "am Freitag"), ("on Saturday", "am Samstag"), ("on Sunday", "am Sonntag"),
)
"""Time phrases (English, German) that open a main clause."""


# ---------------------------------------------------------------------------------------
# Morphology
# ---------------------------------------------------------------------------------------

def conjugate(infinitive: str, person: str) -> str:
    """The German present tense of ``infinitive`` (no separable particle) for ``person``.

    ``person`` is one of :data:`PERSONS`: ``conjugate("lesen", "3sg") == "liest"``.
    """
    index = PERSONS.index(person)
    if infinitive in IRREGULAR_PRESENT:
        return IRREGULAR_PRESENT[infinitive][index]
    stem = infinitive[:-2] if infinitive.endswith("en") else infinitive[:-1]
    strong = STRONG_STEMS.get(infinitive)
    if strong and person in ("2sg", "3sg"):
        if person == "2sg":
            return strong + ("t" if _hisses(strong) else "st")
        return strong if strong.endswith("t") else strong + "t"
    if person in ("1pl", "3pl"):
        return infinitive
    if person == "1sg":
        return stem + "e"
    linking_e = "e" if _needs_linking_e(stem) else ""
    if person == "2sg":
        return stem + linking_e + ("t" if _hisses(stem) and not linking_e else "st")
    return stem + linking_e + "t"


def _hisses(stem: str) -> bool:
    """Stems ending in s, ß, x or z take -t, not -st, for du (du liest, du tanzt)."""
    return stem.endswith(("s", "ß", "x", "z"))


def _needs_linking_e(stem: str) -> bool:
    """Stems in -d, -t or consonant + m/n insert e: du wartest, er öffnet, ihr findet."""
    return re.search(r"([dt]|[^aeiouäöülrhmn][mn]|chn)$", stem) is not None


def english_third_person(base: str) -> str:
    """The English 3rd person singular present: sees, goes, carries, has, looks for."""
    head, _, rest = base.partition(" ")
    if head == "have":
        inflected = "has"
    elif head.endswith(("s", "sh", "ch", "x", "z", "o")):
        inflected = head + "es"
    elif head.endswith("y") and head[-2] not in "aeiou":
        inflected = head[:-1] + "ies"
    else:
        inflected = head + "s"
    return f"{inflected} {rest}" if rest else inflected


def english_present(base: str, person: str) -> str:
    """The English simple present of ``base`` for ``person``."""
    return english_third_person(base) if person == "3sg" else base


def english_be(person: str) -> str:
    return {"1sg": "am", "3sg": "is"}.get(person, "are")


# ---------------------------------------------------------------------------------------
# Noun phrases
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NounPhrase:
    """A pronoun, or a noun with a determiner and at most one adjective.

    ``determiner``: ``"the"``, ``"a"``, ``"none"`` (bare plural or mass noun), a number
    word of :data:`NUMBERS` or a possessive of :data:`POSSESSIVES`.
    """

    noun: Noun | None = None
    determiner: str = "the"
    plural: bool = False
    adjective: Adjective | None = None
    pronoun: Pronoun | None = None

    @property
    def person(self) -> str:
        if self.pronoun:
            return self.pronoun.person
        return "3pl" if self.plural else "3sg"

    @property
    def indefinite(self) -> bool:
        """Indefinite phrases are negated with kein: ein Buch -> kein Buch, Äpfel -> keine."""
        return self.pronoun is None and self.determiner in ("a", "none")


def noun_phrase(noun: str, determiner: str = "the", adjective: str | None = None,
                plural: bool = False) -> NounPhrase:
    """A noun phrase from English lexicon entries: ``noun_phrase("dog", "a", "small")``."""
    return NounPhrase(NOUNS[noun], determiner, plural,
                      ADJECTIVES[adjective] if adjective else None)


def pronoun_phrase(english_subject: str) -> NounPhrase:
    """A pronoun by its English subject form: ``pronoun_phrase("she")``."""
    return NounPhrase(pronoun=PRONOUNS[english_subject])


def english_noun_phrase(phrase: NounPhrase, role: str = "subject") -> str:
    """The English phrase; ``role`` is ``"subject"`` or ``"object"`` (he / him)."""
    if phrase.pronoun:
        pronoun = phrase.pronoun
        return pronoun.english_subject if role == "subject" else pronoun.english_object
    noun = phrase.noun.english_plural if phrase.plural else phrase.noun.english
    words = [phrase.adjective.english, noun] if phrase.adjective else [noun]
    if phrase.determiner == "a":
        return " ".join([_english_indefinite_article(words[0]), *words])
    if phrase.determiner == "none":
        return " ".join(words)
    return " ".join([phrase.determiner, *words])


def _english_indefinite_article(next_word: str) -> str:
    return "an" if next_word[0] in "aeio" else "a"


def german_noun_phrase(phrase: NounPhrase, case: str, negated: bool = False) -> str:
    """The German phrase in ``case`` (``nom``, ``acc``, ``dat``).

    With ``negated``, an indefinite phrase takes kein: ``keinen kleinen Hund``.
    """
    if phrase.pronoun:
        return getattr(phrase.pronoun, case)
    key = "pl" if phrase.plural else phrase.noun.gender
    determiner, declension = _german_determiner(phrase, case, key, negated and phrase.indefinite)
    words = [determiner] if determiner else []
    if phrase.adjective:
        words.append(phrase.adjective.stem + ADJECTIVE_ENDINGS[declension][case][key])
    words.append(german_noun_form(phrase.noun, phrase.plural, case))
    return " ".join(words)


def _german_determiner(phrase: NounPhrase, case: str, key: str,
                       kein: bool) -> tuple[str | None, str]:
    """The German determiner (None for none) and the adjective declension it calls for."""
    if kein:
        return "kein" + EIN_WORD_ENDINGS[case][key], "mixed"
    if phrase.determiner == "the":
        return DEFINITE_ARTICLES[case][key], "weak"
    if phrase.determiner == "a":
        return "ein" + EIN_WORD_ENDINGS[case][key], "mixed"
    if phrase.determiner in POSSESSIVES:
        return POSSESSIVES[phrase.determiner] + EIN_WORD_ENDINGS[case][key], "mixed"
    if phrase.determiner in NUMBERS:
        return NUMBERS[phrase.determiner], "strong"
    return None, "strong"


def german_noun_form(noun: Noun, plural: bool, case: str) -> str:
    """Hund / Hunde / Hunden (dative plural), Junge / Jungen (weak noun, not nominative)."""
    if plural:
        form = noun.german_plural
        return form + "n" if case == "dat" and not form.endswith(("n", "s")) else form
    if noun.oblique and case != "nom":
        return noun.oblique
    return noun.german


@dataclass(frozen=True)
class PrepositionalPhrase:
    preposition: Preposition
    phrase: NounPhrase


def english_prepositional_phrase(pp: PrepositionalPhrase) -> str:
    return f"{pp.preposition.english} {english_noun_phrase(pp.phrase, 'object')}"


def german_prepositional_phrase(pp: PrepositionalPhrase) -> str:
    """The German phrase in the preposition's case, contracted: in dem Park -> im Park."""
    phrase = german_noun_phrase(pp.phrase, pp.preposition.case)
    article, _, rest = phrase.partition(" ")
    contraction = CONTRACTIONS.get((pp.preposition.german, article))
    if contraction and pp.phrase.determiner == "the" and not pp.phrase.pronoun:
        return f"{contraction} {rest}"
    return f"{pp.preposition.german} {phrase}"


def german_noun_forms() -> frozenset[str]:
    """Every German word of the corpus that is a noun (all are capitalised)."""
    forms = set()
    for noun in NOUNS.values():
        for plural in (False, True):
            forms.update(german_noun_form(noun, plural, case) for case in ("nom", "acc", "dat"))
    for _, german in TIME_PHRASES:
        forms.update(word for word in german.split() if word[0].isupper())
    return frozenset(forms)


# ---------------------------------------------------------------------------------------
# Clauses and sentences
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Clause:
    """One clause: a subject, a verb and what the verb's frame and adjuncts add.

    ``dative_object`` is the indirect object of ``ditr`` verbs and the only object of
    ``dat`` verbs; ``predicate`` the adjective of a copula.
    """

    subject: NounPhrase
    verb: Verb
    direct_object: NounPhrase | None = None
    dative_object: NounPhrase | None = None
    predicate: Adjective | None = None
    adjunct: PrepositionalPhrase | None = None
    direction: PrepositionalPhrase | None = None
    modal: Modal | None = None
    negated: bool = False


@dataclass(frozen=True)
class Sentence:
    """A main clause, maybe with a fronted time phrase, as a question, or with a subclause."""

    main: Clause
    time: tuple[str, str] | None = None
    question: bool = False
    conjunction: Conjunction | None = None
    subordinate: Clause | None = None
    subordinate_first: bool = False


def english_clause(clause: Clause, question: bool = False) -> str:
    """The English clause: subject, verb group, objects, predicate, direction, adjunct."""
    subject = english_noun_phrase(clause.subject)
    before_subject, after_subject = _english_verb_group(clause, question)
    rest = [english_noun_phrase(phrase, "object")
            for phrase in (clause.dative_object, clause.direct_object) if phrase]
    if clause.predicate:
        rest.append(clause.predicate.english)
    rest += [english_prepositional_phrase(pp) for pp in (clause.direction, clause.adjunct) if pp]
    return " ".join([*before_subject, subject, *after_subject, *rest])


def _english_verb_group(clause: Clause, question: bool) -> tuple[list[str], list[str]]:
    """The verb words before and after the subject (do-support, modals, not)."""
    person, verb, modal = clause.subject.person, clause.verb, clause.modal
    if verb.frame == "copula":
        be, negation = english_be(person), ["not"] if clause.negated else []
        return ([be], negation) if question else ([], [be, *negation])
    if modal and not modal.do_support:
        if question:
            return [modal.english], [verb.english]
        return [], [modal.english_negated if clause.negated else modal.english, verb.english]
    base = f"{modal.english} {verb.english}" if modal else verb.english
    do = "does" if person == "3sg" else "do"
    if question:
        return [do], [base]
    if clause.negated:
        return [], [do, "not", base]
    return [], [english_present(base, person)]


def german_clause(clause: Clause, order: str) -> str:
    """The German clause in ``order``: ``main`` (subject first, verb second), ``inverted``
    (verb, then subject: after a fronted phrase, or a question) or ``subordinate``
    (verb last)."""
    subject = german_noun_phrase(clause.subject, "nom")
    middle = _german_middle_field(clause)
    verb, modal = clause.verb, clause.modal
    finite = conjugate((modal or verb).german, clause.subject.person)
    if order == "subordinate":
        verbs = [verb.infinitive, finite] if modal else [verb.particle + finite]
        return " ".join([subject, *middle, *verbs])
    final = [verb.infinitive] if modal else [verb.particle] if verb.particle else []
    if order == "inverted":
        return " ".join([finite, subject, *middle, *final])
    return " ".join([subject, finite, *middle, *final])


def _german_middle_field(clause: Clause) -> list[str]:
    """Objects (dative before accusative), nicht, then adjunct, direction and predicate."""
    words = []
    if clause.dative_object:
        words.append(german_noun_phrase(clause.dative_object, "dat"))
    direct = clause.direct_object
    if direct:
        words.append(german_noun_phrase(direct, "acc", negated=clause.negated))
    if clause.negated and not (direct and direct.indefinite):
        words.append("nicht")
    words += [german_prepositional_phrase(pp) for pp in (clause.adjunct, clause.direction) if pp]
    if clause.predicate:
        words.append(clause.predicate.german)
    return words


def english_sentence(sentence: Sentence) -> str:
    """The English sentence, capitalised and punctuated."""
    if sentence.subordinate is None:
        main = english_clause(sentence.main, sentence.question)
        text = f"{sentence.time[0]} {main}" if sentence.time else main
        return _finish(text, "?" if sentence.question else ".")
    main = english_clause(sentence.main)
    subordinate = f"{sentence.conjunction.english} {english_clause(sentence.subordinate)}"
    if sentence.subordinate_first:
        return _finish(f"{subordinate}, {main}", ".")
    separator = " " if sentence.conjunction == THAT else ", "
    return _finish(f"{main}{separator}{subordinate}", ".")


def german_sentence(sentence: Sentence) -> str:
    """The German sentence, capitalised and punctuated (a comma before every subclause)."""
    if sentence.subordinate is None:
        if sentence.question:
            return _finish(german_clause(sentence.main, "inverted"), "?")
        if sentence.time:
            return _finish(f"{sentence.time[1]} {german_clause(sentence.main, 'inverted')}", ".")
        return _finish(german_clause(sentence.main, "main"), ".")
    subordinate = f"{sentence.conjunction.german} {german_clause(sentence.subordinate, 'subordinate')}"
    if sentence.subordinate_first:
        return _finish(f"{subordinate}, {german_clause(sentence.main, 'inverted')}", ".")
    return _finish(f"{german_clause(sentence.main, 'main')}, {subordinate}", ".")


def _finish(text: str, punctuation: str) -> str:
    return text[0].upper() + text[1:] + punctuation


def translate(sentence: Sentence) -> tuple[str, str]:
    """The (English, German) pair of a sentence."""
    return english_sentence(sentence), german_sentence(sentence)


# ---------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------

class Weighted(Generic[T]):
    """Options with weights, drawn with ``rng.random()`` alone (stable across Pythons)."""

    def __init__(self, weighted_options: Sequence[tuple[T, float]]) -> None:
        self.options = tuple(option for option, _ in weighted_options)
        self.cumulative = tuple(itertools.accumulate(weight for _, weight in weighted_options))

    def draw(self, rng: random.Random) -> T:
        return self.options[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


SENTENCE_KINDS = Weighted([("simple", 0.5), ("question", 0.08), ("subclause_after", 0.18),
                           ("subclause_first", 0.1), ("that", 0.14)])
FRAMES = Weighted([("tr", 0.42), ("intr", 0.13), ("ditr", 0.1), ("dat", 0.07), ("motion", 0.12),
                   ("copula", 0.16)])
COUNTABLE_DETERMINERS = Weighted([
    (("the", False), 0.42), (("a", False), 0.2), (("poss", False), 0.08), (("the", True), 0.12),
    (("none", True), 0.1), (("number", True), 0.05), (("poss", True), 0.03)])
MASS_DETERMINERS = Weighted([(("the", False), 0.45), (("none", False), 0.45), (("poss", False), 0.1)])
"""(determiner, plural); "poss" and "number" stand for any possessive or number word."""

_NOUN_LIST = tuple(NOUNS.values())
_PRONOUN_LIST = tuple(PRONOUNS.values())
_OBJECT_PRONOUNS = tuple(p for p in _PRONOUN_LIST if "person" in p.tags)
_ADJECTIVE_LIST = tuple(ADJECTIVES.values())
_VERBS_BY_FRAME = {frame: tuple(verb for verb in VERBS if verb.frame == frame)
                   for frame in ("intr", "tr", "dat", "ditr", "motion", "copula", "say")}


@functools.cache
def _nouns_tagged(tags: frozenset[str]) -> tuple[Noun, ...]:
    """Nouns with any of ``tags``, in lexicon order."""
    return tuple(noun for noun in _NOUN_LIST if noun.tags & tags)


@functools.cache
def _adjectives_for(tags: frozenset[str]) -> tuple[Adjective, ...]:
    """Adjectives that fit a noun with ``tags``, in lexicon order."""
    return tuple(adjective for adjective in _ADJECTIVE_LIST if adjective.tags & tags)


class SentenceSampler:
    """Draws random :class:`Sentence` objects from the grammar with one ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def sentence(self) -> Sentence:
        kind = SENTENCE_KINDS.draw(self.rng)
        if kind == "simple":
            time = self.rng.choice(TIME_PHRASES) if self.chance(0.3) else None
            return Sentence(self.clause(inverted=time is not None), time=time)
        if kind == "question":
            return Sentence(self.clause(inverted=True, question=True), question=True)
        if kind == "that":
            return Sentence(self.say_clause(), conjunction=THAT,
                            subordinate=self.clause(short=True))
        conjunction = self.rng.choice(CONJUNCTIONS)
        first = kind == "subclause_first"
        return Sentence(self.clause(inverted=first, short=True), conjunction=conjunction,
                        subordinate=self.clause(short=True), subordinate_first=first)

    def say_clause(self) -> Clause:
        verb = self.rng.choice(_VERBS_BY_FRAME["say"])
        return Clause(self.subject(verb.subject_tags, short=True), verb)

    def clause(self, inverted: bool = False, question: bool = False, short: bool = False) -> Clause:
        """A clause; in ``inverted`` ones a noun subject keeps object pronouns out."""
        verb = self.rng.choice(_VERBS_BY_FRAME[FRAMES.draw(self.rng)])
        modal = self.modal(verb, question)
        negated = not question and self.chance(0.15) and (modal is None or modal.negatable)
        subject = self.subject(verb.subject_tags, short)
        pronoun_objects = not inverted or subject.pronoun is not None
        objects = self.objects(verb, subject, negated, pronoun_objects, short)
        clause = Clause(subject, verb, modal=modal, negated=negated, **objects)
        if verb.frame == "copula":
            return self.copula_complement(clause, short)
        if verb.adjuncts and not negated and self.chance(0.15 if short else 0.35):
            clause = self.with_adjunct(clause, self.rng.choice(verb.adjuncts))
        return clause

    def modal(self, verb: Verb, question: bool) -> Modal | None:
        if verb.frame in ("copula", "say") or not self.chance(0.12):
            return None
        modal = self.rng.choice(MODALS)
        return None if question and not modal.negatable else modal

    def subject(self, tags: frozenset[str], short: bool) -> NounPhrase:
        pronouns = [p for p in _PRONOUN_LIST if p.tags & tags]
        if pronouns and self.chance(0.3):
            return NounPhrase(pronoun=self.rng.choice(pronouns))
        return self.noun_phrase(tags, short)

    def objects(self, verb: Verb, subject: NounPhrase, negated: bool, pronouns: bool,
                short: bool) -> dict[str, NounPhrase | PrepositionalPhrase]:
        """The objects, or the direction, that the verb's frame asks for.

        Negated clauses get definite dative objects and no numbers ("nicht"/"kein" stay
        unambiguous). After the recipient "her" the thing given is never bare, which
        keeps "buys her coffee" (ihren Kaffee) apart from "buys her the coffee".
        """
        if verb.frame == "tr":
            return {"direct_object": self.object(verb.object_tags, subject, pronouns, short,
                                                 negated=negated)}
        if verb.frame == "dat":
            return {"dative_object": self.object(verb.object_tags, subject, pronouns, short,
                                                 definite=negated)}
        if verb.frame == "ditr":
            recipient = self.object(verb.recipient_tags, subject, pronouns, short=True,
                                    definite=negated)
            thing = self.object(verb.object_tags, subject, False, short, negated=negated)
            if recipient.pronoun == PRONOUNS["she"] and thing.determiner == "none":
                thing = replace(thing, determiner="the")
            return {"dative_object": recipient, "direct_object": thing}
        if verb.frame == "motion":
            place = self.place_phrase()
            return {"direction": PrepositionalPhrase(place.noun.direction, place)}
        return {}

    def object(self, tags: frozenset[str], subject: NounPhrase, pronouns: bool, short: bool,
               definite: bool = False, negated: bool = False) -> NounPhrase:
        """An object that differs from the subject (no "the dog sees the dog", no "I see me")."""
        while True:
            if pronouns and _PERSON & tags and self.chance(0.15):
                candidate = NounPhrase(pronoun=self.rng.choice(_OBJECT_PRONOUNS))
            else:
                candidate = self.noun_phrase(tags, short, definite)
            if negated and candidate.determiner in NUMBERS:
                candidate = replace(candidate, determiner="none")
            if _distinct(subject, candidate):
                return candidate

    def noun_phrase(self, tags: frozenset[str], short: bool = False,
                    definite: bool = False) -> NounPhrase:
        noun = self.rng.choice(_nouns_tagged(tags))
        if definite:
            determiner, plural = "the", self.chance(0.2) and noun.countable
        else:
            determiners = COUNTABLE_DETERMINERS if noun.countable else MASS_DETERMINERS
            determiner, plural = determiners.draw(self.rng)
        if determiner == "poss":
            determiner = "the" if "generic" in noun.tags else self.rng.choice(tuple(POSSESSIVES))
        elif determiner == "number":
            determiner = self.rng.choice(tuple(NUMBERS))
        return NounPhrase(noun, determiner, plural, self.adjective(noun, 0.1 if short else 0.25))

    def adjective(self, noun: Noun, probability: float) -> Adjective | None:
        candidates = _adjectives_for(noun.tags)
        if not candidates or not self.chance(probability):
            return None
        return self.rng.choice(candidates)

    def place_phrase(self) -> NounPhrase:
        noun = self.rng.choice(_nouns_tagged(frozenset({"place"})))
        own = "own" in noun.tags and self.chance(0.25)
        determiner = self.rng.choice(tuple(POSSESSIVES)) if own else "the"
        return NounPhrase(noun, determiner, False, self.adjective(noun, 0.1))

    def companion(self, subject: NounPhrase, tags: frozenset[str]) -> NounPhrase:
        """The object of with, without, for or from."""
        return self.object(tags, subject, pronouns=True, short=True)

    def with_adjunct(self, clause: Clause, kind: str) -> Clause:
        if kind == "loc":
            place = self.place_phrase()
            adjunct = PrepositionalPhrase(place.noun.location, place)
        else:
            preposition = {"with": WITH, "for": FOR, "from": FROM}[kind]
            if kind == "with" and clause.verb.frame == "motion" and self.chance(0.3):
                preposition = WITHOUT
            tags = frozenset({"animate" if kind == "with" else "person"})
            adjunct = PrepositionalPhrase(preposition, self.companion(clause.subject, tags))
        return replace(clause, adjunct=adjunct)

    def copula_complement(self, clause: Clause, short: bool) -> Clause:
        """A predicate adjective fitting the subject, or a place: "is in the garden"."""
        tags = clause.subject.pronoun.tags if clause.subject.pronoun else clause.subject.noun.tags
        adjectives = _adjectives_for(tags)
        if not adjectives or self.chance(0.25):
            place = self.place_phrase()
            return replace(clause, adjunct=PrepositionalPhrase(place.noun.location, place))
        return replace(clause, predicate=self.rng.choice(adjectives))


def _distinct(subject: NounPhrase, other: NounPhrase) -> bool:
    """Whether ``other`` can stand beside ``subject`` without being a reflexive."""
    if subject.pronoun and other.pronoun:
        first_or_second = subject.pronoun.person[0] in "12"
        return not (first_or_second and subject.pronoun.person[0] == other.pronoun.person[0])
    return subject.noun is None or subject.noun != other.noun


def _word_count(text: str) -> int:
    return len(text.split())


def sample_pair(rng: random.Random) -> tuple[str, str]:
    """One (English, German) pair of :data:`MIN_WORDS` to :data:`MAX_WORDS` English words."""
    sampler = SentenceSampler(rng)
    while True:
        english, german = translate(sampler.sentence())
        if MIN_WORDS <= _word_count(english) <= MAX_WORDS:
            return english, german


def generate_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (English, German) pairs, the same for the same ``n`` and ``seed``."""
    rng = random.Random(seed)
    return [sample_pair(rng) for _ in range(n)]


# ---------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------

def generate_corpus(sizes: dict[str, int] | None = None,
                    seed: int = DEFAULT_SEED) -> dict[str, list[tuple[str, str]]]:
    """Train, validation and test pairs; missing sizes default to :data:`DEFAULT_SIZES`.

    Test and then validation are drawn first, each English sentence unique across both;
    train is drawn next, skipping any sentence held out (train may repeat itself).
    """
    sizes = _checked_sizes(sizes)
    rng = random.Random(seed)
    held_out: set[str] = set()
    corpus: dict[str, list[tuple[str, str]]] = {}
    for split in ("test", "validation", "train"):
        corpus[split] = _draw_split(rng, sizes[split], held_out, unique=split != "train")
    return {split: corpus[split] for split in SPLITS}


def _checked_sizes(sizes: dict[str, int] | None) -> dict[str, int]:
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    unknown = sorted(set(sizes) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; the demo corpus has {list(SPLITS)}")
    for split, size in sizes.items():
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"size of split {split!r} must be a non-negative int, got {size!r}")
    return sizes


def _draw_split(rng: random.Random, size: int, held_out: set[str],
                unique: bool) -> list[tuple[str, str]]:
    """``size`` pairs whose English is not in ``held_out``; unique ones join it."""
    pairs: list[tuple[str, str]] = []
    attempts = 0
    while len(pairs) < size:
        attempts += 1
        if attempts > 20 * size + 1000:
            raise RuntimeError(f"could not draw {size} new sentences; ask for fewer")
        english, german = sample_pair(rng)
        if english in held_out:
            continue
        if unique:
            held_out.add(english)
        pairs.append((english, german))
    return pairs


def write_corpus(output_dir: str | Path, sizes: dict[str, int] | None = None,
                 seed: int = DEFAULT_SEED, src_lang: str = "en", tgt_lang: str = "de",
                 overwrite: bool = False) -> dict[str, int]:
    """Write ``{split}.en`` and ``{split}.de`` for each split into ``output_dir``.

    Files are UTF-8, one sentence per line; line N of ``.en`` translates line N of ``.de``.
    ``src_lang`` and ``tgt_lang`` give the direction and must be en and de, in either
    order. Existing files are only replaced with ``overwrite``. Returns pairs per split.
    """
    if {src_lang, tgt_lang} != {"en", "de"} or src_lang == tgt_lang:
        raise ValueError(f"the demo corpus is English-German; got {src_lang!r} -> {tgt_lang!r}")
    output_dir = Path(output_dir)
    paths = {(split, lang): output_dir / f"{split}.{lang}" for split in SPLITS for lang in ("en", "de")}
    if not overwrite:
        for path in paths.values():
            if path.exists():
                raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    corpus = generate_corpus(sizes, seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    for split, pairs in corpus.items():
        for column, lang in enumerate(("en", "de")):
            lines = "".join(pair[column] + "\n" for pair in pairs)
            paths[split, lang].write_text(lines, encoding="utf-8")
    return {split: len(pairs) for split, pairs in corpus.items()}


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seq2seq-demo-corpus",
        description="Write the synthetic English-German demo corpus as {split}.en / {split}.de.")
    parser.add_argument("output_dir", type=Path, help="directory to write into (created if needed)")
    for split in SPLITS:
        parser.add_argument(f"--{split}", type=_non_negative_int, default=DEFAULT_SIZES[split],
                            metavar="N", help=f"pairs in {split} (default {DEFAULT_SIZES[split]})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``seq2seq-demo-corpus`` command."""
    args = build_parser().parse_args(argv)
    sizes = {split: getattr(args, split) for split in SPLITS}
    try:
        counts = write_corpus(args.output_dir, sizes, args.seed, overwrite=args.overwrite)
    except FileExistsError as error:
        build_parser().error(str(error))
    for split, count in counts.items():
        for lang in ("en", "de"):
            print(f"{args.output_dir / f'{split}.{lang}'}: {count} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
