"""The demo corpus's lexicon: every word the grammar can use, in English and German.

Nouns (with gender, plurals, weak-noun forms and compounds), adjectives, personal
pronouns, possessives, numbers, articles and inflection tables, verbs with their frames,
modals, conjunctions and time phrases. Tags on nouns, adjectives and verbs say which
words go together ("drink" takes a ``drink``, "tired" fits a ``person`` or ``animal``).
"""

from __future__ import annotations

from dataclasses import dataclass

PERSONS = ("1sg", "2sg", "3sg", "1pl", "2pl", "3pl")


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


PERSON_TAGS = frozenset({"person", "animate"})
"""The tags of nouns and pronouns that stand for people."""
PRONOUNS = {
    pronoun.english_subject: pronoun for pronoun in (
        Pronoun("I", "me", "1sg", "ich", "mich", "mir", PERSON_TAGS),
        Pronoun("you", "you", "2sg", "du", "dich", "dir", PERSON_TAGS),
        Pronoun("he", "him", "3sg", "er", "ihn", "ihm", PERSON_TAGS),
        Pronoun("she", "her", "3sg", "sie", "sie", "ihr", PERSON_TAGS),
        Pronoun("it", "it", "3sg", "es", "es", "ihm", frozenset({"animal", "animate"})),
        Pronoun("we", "us", "1pl", "wir", "uns", "uns", PERSON_TAGS),
        Pronoun("you all", "you all", "2pl", "ihr", "euch", "euch", PERSON_TAGS),
        Pronoun("they", "them", "3pl", "sie", "sie", "ihnen", PERSON_TAGS),
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

