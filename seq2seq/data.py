"""Loading and cleaning parallel corpora; `datasets` does the loading.

:func:`load_parallel` turns any supported source into one dataset per split with exactly
two string columns, ``src`` and ``tgt``. A source is one of:

1. **A hub dataset name** (anything that is not an existing path), with an optional
   ``config``: ``bentrevett/multi30k``, or ``wmt14`` with config ``fr-en``.
2. **A local directory of per-split files**, named by a *stem* per split:
   ``{stem}.{lang}`` pairs (plain text, one sentence per line, line N of one file
   translating line N of the other), ``{stem}.tsv`` (``source<TAB>target``, no header)
   or ``{stem}.jsonl`` (``{"de": ..., "en": ...}`` or ``{"translation": {...}}`` per
   line); each may be gzipped (``.gz``). Where a stem has several of these, the language
   pair wins over TSV, TSV over JSONL; a plain file wins over its ``.gz`` twin.
3. **A local directory in hub layout**: data files that `datasets` discovers on its own
   (``data/train-00000-of-00001.parquet``, ``train.csv``...), or a directory written by
   ``DatasetDict.save_to_disk`` (it has a ``dataset_dict.json``). Rows go through the
   same code as hub datasets, which is how the tests exercise the hub path offline.
4. **A single file** (``.tsv``/``.jsonl``, optionally ``.gz``) or a directory written
   by ``Dataset.save_to_disk``: it holds *one* split, so ``splits`` must name exactly
   one (``splits=("test",)`` to translate or score a test set). A single file is never
   reused as several splits: training and testing on one file is a mistake worth an
   error. For several splits, put ``{stem}.tsv``/``{stem}.jsonl`` files in a directory.

Rows of `datasets` sources (1, 3, saved datasets) hold either a ``translation`` dict
``{lang: text}`` or one column per language. TSV columns carry no language names:
column 1 is the source and column 2 the target, whatever ``src_lang``/``tgt_lang`` say.

Split names. ``split_stems`` maps split names to the names the source uses. In a local
directory of files the default stem of a split is its own name, and the validation
split falls back to ``valid``, ``val`` and ``dev``; an explicit stem must exist. Hub
splits (and hub-layout or saved directories) are looked up under the explicit name
first and then under the standard aliases (validation/valid/dev/val), with a warning
on fallback, so that one config (e.g. ``{validation: val, test: test_2016_flickr}``)
serves both the Multi30k text files and the hub's ``bentrevett/multi30k``.

Cleaning. Both sides are stripped of surrounding whitespace (line endings ``\\n`` and
``\\r\\n`` included, and a UTF-8 byte order mark at the start of a file). Only the
``train`` split loses pairs: those with an empty side, counted in a warning. Validation
and test data are never dropped, merged or reordered; their empty lines stay empty
strings, so line N of a hypothesis file still matches line N of the reference.

Bad input raises :class:`DataError` naming the file (and line) at fault. Without
streaming every check runs inside :func:`load_parallel`, before any training starts;
with streaming, per-line checks run as the stream is read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import datasets
from datasets.exceptions import DatasetGenerationError

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
"""The splits the toolkit uses; :func:`load_parallel` also accepts other split names."""

SPLIT_ALIASES = {"validation": ("validation", "valid", "val", "dev")}
"""Other names a split goes by, tried in order (a split not listed is only its own name)."""

PAIR_FEATURES = datasets.Features({"src": datasets.Value("string"),
                                   "tgt": datasets.Value("string")})

Corpus = datasets.Dataset | datasets.IterableDataset

_LOCAL_FILE_KINDS = ("tsv", "jsonl")
_LANGUAGE_SUFFIX = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_NOT_LANGUAGES = frozenset({
    "arrow", "bin", "bz2", "cfg", "csv", "dat", "gz", "htm", "ini", "log", "md", "out",
    "pkl", "pt", "py", "sgm", "sh", "tar", "tgz", "tmx", "toml", "txt", "xml", "xz", "yml",
    "zip", "zst",
})
_SPLIT_NAME = re.compile(r"\w+(\.\w+)*")  # what datasets accepts as a split name
_PATH_SUFFIXES = (".tsv", ".jsonl", ".gz", ".json", ".parquet", ".csv", ".txt")


class DataError(ValueError):
    """Bad corpus input; the message names the file (and line) at fault."""


# ---- reading text files ------------------------------------------------------------------


def read_lines(path: str | Path) -> Iterator[str]:
    """Yield the lines of a UTF-8 text file (gzipped if its name ends in ``.gz``).

    Lines are split on ``\\n`` only (a stray ``\\r`` or U+2028 inside a line does not
    break it, so line numbers agree with ``wc -l``); the line ending (``\\n`` or
    ``\\r\\n``) and a byte order mark at the start of the file are removed, nothing
    else. Decoding is strict: invalid UTF-8 raises :class:`DataError` naming
    ``file:line``.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as lines:
            for number, raw in enumerate(lines, start=1):
                yield _decode_line(raw, path, number)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a text file") from None
    except (OSError, EOFError) as exc:  # unreadable, truncated or corrupt gzip
        raise DataError(f"{path}: cannot read: {exc}") from exc


def _decode_line(raw: bytes, path: Path, number: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}:{number}: invalid UTF-8 ({exc.reason} at byte "
                        f"{exc.start + 1} of the line)") from None
    if number == 1 and text.startswith("\ufeff"):
        text = text[1:]
    return text.rstrip("\r\n")


def _clean_text(text: str | None) -> str:
    """One side of a pair as the toolkit stores it: stripped; a missing value is empty."""
    return "" if text is None else text.strip()


def _aligned_lines(src_path: Path, tgt_path: Path) -> Iterator[tuple[str, str]]:
    """Line pairs of two parallel files; a length mismatch names both files and counts."""
    src_lines, tgt_lines = read_lines(src_path), read_lines(tgt_path)
    for number, (src, tgt) in enumerate(zip_longest(src_lines, tgt_lines), start=1):
        if src is None or tgt is None:
            src_count = number - (src is None) + sum(1 for _ in src_lines)
            tgt_count = number - (tgt is None) + sum(1 for _ in tgt_lines)
            raise DataError(f"{src_path} has {src_count} lines but {tgt_path} has {tgt_count}: "
                            "line N of one must translate line N of the other")
        yield src, tgt


def _tsv_pairs(path: Path) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(read_lines(path), start=1):
        tabs = line.count("\t")
        if tabs != 1:
            raise DataError(f"{path}:{number}: expected source<TAB>target (exactly one tab), "
                            f"found {tabs} tabs")
        src, tgt = line.split("\t")
        yield src, tgt


def _jsonl_pairs(path: Path, src_lang: str, tgt_lang: str) -> Iterator[tuple[str, str]]:
    """Pairs from JSON Lines; blank lines are skipped (a record holds both sides)."""
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        texts = _jsonl_texts(line, f"{path}:{number}")
        missing = [lang for lang in (src_lang, tgt_lang) if lang not in texts]
        if missing:
            raise DataError(f"{path}:{number}: no {' or '.join(map(repr, missing))} text; "
                            f"languages available: {', '.join(sorted(texts)) or 'none'}")
        pair = texts[src_lang], texts[tgt_lang]
        for text in pair:
            if text is not None and not isinstance(text, str):
                raise DataError(f"{path}:{number}: texts must be strings, not "
                                f"{type(text).__name__}")
        yield pair


def _jsonl_texts(line: str, where: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: invalid JSON ({exc.msg})") from None
    if isinstance(record, dict) and isinstance(record.get("translation"), dict):
        record = record["translation"]
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object like "
                        '{"de": "...", "en": "..."} or {"translation": {...}}')
    return record


# ---- local files: which file holds which split --------------------------------------------


@dataclass(frozen=True)
class _LocalSplit:
    """Where one split lives in local files: ``kind`` is "text", "tsv" or "jsonl"."""

    kind: str
    paths: tuple[str, ...]

    @property
    def where(self) -> str:
        return " + ".join(self.paths)


def _single_file_split(path: Path) -> _LocalSplit:
    name = path.name.removesuffix(".gz")
    for kind in _LOCAL_FILE_KINDS:
        if name.endswith(f".{kind}"):
            return _LocalSplit(kind, (str(path),))
    raise DataError(f"{path}: unsupported file type; a single file must be .tsv or .jsonl "
                    "(optionally .gz); give a directory for {stem}.{lang} text pairs")


def _local_files(directory: Path) -> dict[str, dict[str, Path]]:
    """Per stem, the split files in ``directory`` by kind ("tsv", "jsonl") or language."""
    files: dict[str, dict[str, Path]] = {}
    for path in sorted(directory.iterdir(), key=lambda p: p.name.endswith(".gz")):
        parsed = _parse_local_name(path.name) if path.is_file() else None
        if parsed is not None:
            stem, key = parsed
            files.setdefault(stem, {}).setdefault(key, path)  # plain before .gz
    return files


def _parse_local_name(name: str) -> tuple[str, str] | None:
    """``train.de.gz`` -> ("train", "de"); ``val.tsv`` -> ("val", "tsv"); else None."""
    stem, dot, suffix = name.removesuffix(".gz").rpartition(".")
    if not dot or not stem:
        return None
    if suffix in _LOCAL_FILE_KINDS:
        return stem, suffix
    if _LANGUAGE_SUFFIX.fullmatch(suffix) and suffix.lower() not in _NOT_LANGUAGES:
        return stem, suffix
    return None


def _find_local_split(directory: Path, files: dict[str, dict[str, Path]], split: str,
                      explicit_stem: str | None, src_lang: str, tgt_lang: str) -> _LocalSplit:
    """The files of one split: the first candidate stem present decides."""
    stems = (explicit_stem,) if explicit_stem else SPLIT_ALIASES.get(split, (split,))
    for stem in stems:
        if stem in files:
            return _split_from_stem(directory, files[stem], stem, split, src_lang, tgt_lang)
    present = ", ".join(sorted(files)) or "none"
    looked_for = ", ".join(f"{stem}.{{{src_lang},{tgt_lang}}}" for stem in stems)
    raise DataError(f"{directory}: no files for the {split!r} split: looked for {looked_for} "
                    f"(or {stems[0]}.tsv / {stems[0]}.jsonl, optionally .gz); "
                    f"stems present: {present}")


def local_text_split(directory: str | Path, split: str, src_lang: str, tgt_lang: str,
                     stem: str | None = None) -> tuple[str, str]:
    """The (source, target) text files of ``split`` in ``directory``, found as training
    finds them (``stem``, else the split's aliases; plain before .gz); a DataError naming
    what is missing, or a split held in a .tsv/.jsonl file, else."""
    directory = Path(directory)
    local = _find_local_split(directory, _local_files(directory), split, stem, src_lang,
                              tgt_lang)
    if local.kind != "text":
        raise DataError(f"{local.where}: the {split!r} split is a .{local.kind} file, not "
                        f"{{stem}}.{src_lang} and {{stem}}.{tgt_lang} text files")
    return local.paths


def _split_from_stem(directory: Path, entry: dict[str, Path], stem: str, split: str,
                     src_lang: str, tgt_lang: str) -> _LocalSplit:
    if src_lang in entry and tgt_lang in entry:
        return _LocalSplit("text", (str(entry[src_lang]), str(entry[tgt_lang])))
    for kind in _LOCAL_FILE_KINDS:
        if kind in entry:
            return _LocalSplit(kind, (str(entry[kind]),))
    missing = " and ".join(f"{directory / stem}.{lang}" for lang in (src_lang, tgt_lang)
                           if lang not in entry)
    languages = ", ".join(sorted(entry))
    raise DataError(f"{missing} not found for the {split!r} split; languages available for "
                    f"stem {stem!r}: {languages}")


def _local_pairs(kind: str, paths: tuple[str, ...], src_lang: str,
                 tgt_lang: str) -> Iterator[tuple[str, str]]:
    if kind == "text":
        return _aligned_lines(Path(paths[0]), Path(paths[1]))
    if kind == "tsv":
        return _tsv_pairs(Path(paths[0]))
    return _jsonl_pairs(Path(paths[0]), src_lang, tgt_lang)


def _generate_rows(kind: str, paths: tuple[str, ...], src_lang: str, tgt_lang: str,
                   stamps: tuple) -> Iterator[dict[str, str]]:
    """Rows for ``datasets``; ``stamps`` (content hashes) only key its cache to the files."""
    for src, tgt in _local_pairs(kind, paths, src_lang, tgt_lang):
        yield {"src": _clean_text(src), "tgt": _clean_text(tgt)}


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes: what keys prepared data to it (any edit changes it)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _local_dataset(local: _LocalSplit, split: str, src_lang: str, tgt_lang: str,
                   streaming: bool, cache_dir: str | None) -> Corpus:
    """A split read from local files: lazily when streaming, else fully (and checked) now."""
    gen_kwargs = {"kind": local.kind, "paths": local.paths, "src_lang": src_lang,
                  "tgt_lang": tgt_lang, "stamps": ()}
    if streaming:  # a stream is read afresh each time: no cache to key to the files
        return datasets.IterableDataset.from_generator(
            _generate_rows, features=PAIR_FEATURES, gen_kwargs=gen_kwargs)
    gen_kwargs["stamps"] = tuple((path, file_digest(path)) for path in local.paths)
    try:
        return datasets.Dataset.from_generator(
            _generate_rows, features=PAIR_FEATURES, gen_kwargs=gen_kwargs,
            cache_dir=cache_dir, split=datasets.NamedSplit(split))
    except DatasetGenerationError as exc:
        if isinstance(exc.__cause__, DataError):
            raise exc.__cause__ from None
        raise
    except ValueError as exc:  # datasets: 'Instruction "train" corresponds to no data!'
        if "corresponds to no data" not in str(exc):
            raise
        raise DataError(f"{', '.join(local.paths)}: no sentence pairs in the {split} "
                        "split (the files are empty)") from None


# ---- datasets sources: hub names, hub layout, save_to_disk --------------------------------


def _load_with_datasets(path: str, config: str | None, streaming: bool,
                        cache_dir: str | None) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """``datasets.load_dataset`` for a hub name or a hub-layout directory."""
    try:
        loaded = datasets.load_dataset(path, config, streaming=streaming, cache_dir=cache_dir)
    except (FileNotFoundError, ConnectionError, ValueError) as exc:
        configured = f" (config {config!r})" if config else ""
        remote = "" if Path(path).exists() else " (and no local file or directory has that name)"
        raise DataError(f"cannot load {path!r}{configured} with datasets.load_dataset{remote}: "
                        f"{exc}") from exc
    if not isinstance(loaded, datasets.DatasetDict | datasets.IterableDatasetDict):
        raise DataError(f"{path!r} loaded as a single split; expected named splits")
    return loaded


def _load_saved(directory: Path, streaming: bool) -> dict[str, Corpus] | Corpus:
    """A ``save_to_disk`` directory: a dict of splits, or one Dataset."""
    loaded = datasets.load_from_disk(str(directory))
    if not streaming:
        return loaded
    if isinstance(loaded, datasets.Dataset):
        return loaded.to_iterable_dataset()
    return {name: split.to_iterable_dataset() for name, split in loaded.items()}


def _pick_split(available: Mapping[str, Corpus], split: str, explicit: str | None,
                where: str) -> tuple[str, Corpus]:
    """The source's split for ``split``: its explicit name, else the standard aliases."""
    if explicit in available:
        return explicit, available[explicit]
    for name in SPLIT_ALIASES.get(split, (split,)):
        if name in available:
            if explicit is not None:
                log.warning("%s has no split %r; using its %r split as %r", where, explicit,
                            name, split)
            return name, available[name]
    wanted = dict.fromkeys([explicit] if explicit else [])
    wanted.update(dict.fromkeys(SPLIT_ALIASES.get(split, (split,))))
    raise DataError(f"{where} has no {split!r} split (looked for {', '.join(wanted)}); "
                    f"splits available: {', '.join(available) or 'none'}")


def _row_layout(dataset: Corpus, src_lang: str, tgt_lang: str,
                where: str) -> tuple[str, list[str]]:
    """The rows' shape and the dataset's columns.

    The shape is "translation" (rows hold ``{lang: text}``) or "columns" (one column per
    language).
    """
    columns, translation_languages = _columns_and_languages(dataset, where)
    if translation_languages is not None:
        _require_languages(translation_languages, src_lang, tgt_lang, where)
        return "translation", columns
    if src_lang in columns and tgt_lang in columns:
        return "columns", columns
    missing = [lang for lang in (src_lang, tgt_lang) if lang not in columns]
    raise DataError(f"{where}: no text for language {' or '.join(map(repr, missing))}: expected "
                    "a 'translation' column or one column per language; columns available: "
                    f"{', '.join(columns) or 'none'}")


def _columns_and_languages(dataset: Corpus, where: str) -> tuple[list[str], list[str] | None]:
    """Column names and, with a ``translation`` column, its languages."""
    if dataset.features is not None:
        columns = list(dataset.features)
        feature = dataset.features.get("translation")
        if isinstance(feature, datasets.Translation):
            return columns, list(feature.languages)
        if isinstance(feature, dict):
            return columns, list(feature)
        if feature is not None:
            raise DataError(f"{where}: unsupported 'translation' column type {feature}")
        return columns, None
    first = next(iter(dataset.take(1)), None)  # a stream whose features are not declared
    if first is None:
        raise DataError(f"{where} is empty")
    translation = first.get("translation")
    return list(first), (list(translation) if isinstance(translation, dict) else None)


def _require_languages(available: Sequence[str], src_lang: str, tgt_lang: str,
                       where: str) -> None:
    missing = [lang for lang in (src_lang, tgt_lang) if lang not in available]
    if missing:
        raise DataError(f"{where}: unknown language {' and '.join(map(repr, missing))}; "
                        f"languages available: {', '.join(sorted(available))}")


def _pairs_from_rows(batch: dict, layout: str, src_lang: str, tgt_lang: str) -> dict:
    """A batch of source rows -> a batch of cleaned ``src``/``tgt`` pairs."""
    if layout == "translation":
        texts = [row or {} for row in batch["translation"]]
        src = [text.get(src_lang) for text in texts]
        tgt = [text.get(tgt_lang) for text in texts]
    else:
        src, tgt = batch[src_lang], batch[tgt_lang]
    return {"src": [_clean_text(text) for text in src],
            "tgt": [_clean_text(text) for text in tgt]}


def _normalise_rows(dataset: Corpus, src_lang: str, tgt_lang: str, where: str) -> Corpus:
    """Any supported row shape -> exactly the string columns ``src`` and ``tgt``."""
    layout, columns = _row_layout(dataset, src_lang, tgt_lang, where)
    return dataset.map(_pairs_from_rows, batched=True, remove_columns=columns,
                       features=PAIR_FEATURES,
                       fn_kwargs={"layout": layout, "src_lang": src_lang, "tgt_lang": tgt_lang})


# ---- cleaning and filtering ---------------------------------------------------------------


def _has_both_sides(batch: dict) -> list[bool]:
    return [bool(src) and bool(tgt) for src, tgt in zip(batch["src"], batch["tgt"])]


class _EmptyPairFilter:
    """Stream filter keeping pairs with both sides; warns as the dropped count grows.

    A stream's total is unknown until it ends, so the count is reported at the first
    dropped pair and again each time it reaches the next power of ten.
    """

    def __init__(self, where: str):
        self.where = where
        self.dropped = 0
        self.next_report = 1

    def __call__(self, batch: dict) -> list[bool]:
        keep = _has_both_sides(batch)
        self.dropped += keep.count(False)
        if self.dropped >= self.next_report:
            log.warning("dropped %d training pairs with an empty side so far from %s "
                        "(streamed)", self.dropped, self.where)
            while self.next_report <= self.dropped:
                self.next_report *= 10
        return keep


def _drop_empty_pairs(dataset: Corpus, where: str) -> Corpus:
    """Training pairs with an empty side go; the count is logged with the source."""
    if isinstance(dataset, datasets.IterableDataset):
        return dataset.filter(_EmptyPairFilter(where), batched=True)
    kept = dataset.filter(_has_both_sides, batched=True)
    dropped = len(dataset) - len(kept)
    if dropped:
        log.warning("dropped %d of %d training pairs with an empty side from %s",
                    dropped, len(dataset), where)
    return kept


# ---- the entry point ----------------------------------------------------------------------


def load_parallel(source: str, src_lang: str, tgt_lang: str, *, config: str | None = None,
                  split_stems: Mapping[str, str] | None = None, streaming: bool = False,
                  splits: Sequence[str] = SPLITS,
                  cache_dir: str | None = None) -> dict[str, Corpus]:
    """Load a parallel corpus as ``{split: dataset}`` with string columns ``src``, ``tgt``.

    Args:
        source: a hub dataset name, a local directory or a single ``.tsv``/``.jsonl``
            file (see the module docstring for the layouts).
        src_lang, tgt_lang: language codes as the source names them (file suffixes,
            column names or ``translation`` keys).
        config: the hub dataset's configuration (``"fr-en"`` for ``wmt14``).
        split_stems: split name -> the source's name for it (file stem or hub split).
        streaming: return lazily read ``IterableDataset``s instead of ``Dataset``s.
        splits: the splits to return; a single file or saved ``Dataset`` is one split.
        cache_dir: where `datasets` caches what it prepares (its default if None).

    Raises:
        DataError: the corpus cannot be used; the message names the file (and line).
    """
    if src_lang == tgt_lang:
        raise DataError(f"src_lang and tgt_lang are both {src_lang!r}")
    stems = _checked_stems(split_stems, splits)
    path = Path(source).expanduser()
    if path.is_file() or _is_saved_dataset(path):
        raw = _load_single_split(path, splits, src_lang, tgt_lang, config, streaming, cache_dir)
    elif path.is_dir():
        raw = _load_directory(path, splits, stems, src_lang, tgt_lang, config, streaming,
                              cache_dir)
    elif _looks_like_path(source):
        raise DataError(f"{source}: no such file or directory")
    else:
        loaded = _load_with_datasets(source, config, streaming, cache_dir)
        raw = _splits_from_datasets(loaded, splits, stems, src_lang, tgt_lang, source)
    return {split: _drop_empty_pairs(dataset, where) if split == "train" else dataset
            for split, (dataset, where) in raw.items()}


def _checked_stems(split_stems: Mapping[str, str] | None,
                   splits: Sequence[str]) -> dict[str, str]:
    """``split_stems`` as a dict, after checking it and the split names."""
    bad_names = [split for split in splits if not _SPLIT_NAME.fullmatch(split)]
    if bad_names:
        raise DataError(f"split names must be words like 'test2016'; got {bad_names}")
    stems = dict(split_stems or {})
    unknown = sorted(set(stems) - set(SPLITS) - set(splits))
    if unknown:
        raise DataError(f"split_stems names unknown splits {unknown}; splits are "
                        f"{', '.join(dict.fromkeys([*SPLITS, *splits]))}")
    return stems


def _is_saved_dataset(path: Path) -> bool:
    """A directory written by ``Dataset.save_to_disk`` (one split, not a DatasetDict)."""
    return (path / "state.json").is_file() and (path / "dataset_info.json").is_file()


def _looks_like_path(source: str) -> bool:
    """A source that must be local (hub names are ``name`` or ``owner/name``)."""
    return (source.startswith(("/", "./", "../", "~", "\\")) or source.count("/") > 1
            or source.endswith(_PATH_SUFFIXES))


def _load_single_split(path: Path, splits: Sequence[str], src_lang: str, tgt_lang: str,
                       config: str | None, streaming: bool,
                       cache_dir: str | None) -> dict[str, tuple[Corpus, str]]:
    """A file or a saved ``Dataset``: one split, the one ``splits`` names."""
    if len(splits) != 1:
        raise DataError(f"{path} holds one split, but the splits {tuple(splits)} were "
                        "requested: pass a single split (e.g. splits=('test',)) or give a "
                        "directory with one file per split ({stem}.tsv, {stem}.jsonl, "
                        "{stem}.{lang})")
    _reject_config(config, path)
    (split,) = splits
    if path.is_dir():
        dataset = _normalise_rows(_load_saved(path, streaming), src_lang, tgt_lang, str(path))
        return {split: (dataset, str(path))}
    local = _single_file_split(path)
    dataset = _local_dataset(local, split, src_lang, tgt_lang, streaming, cache_dir)
    return {split: (dataset, local.where)}


def _load_directory(directory: Path, splits: Sequence[str], stems: dict[str, str],
                    src_lang: str, tgt_lang: str, config: str | None, streaming: bool,
                    cache_dir: str | None) -> dict[str, tuple[Corpus, str]]:
    if (directory / "dataset_dict.json").is_file():
        _reject_config(config, directory)
        loaded = _load_saved(directory, streaming)
        return _splits_from_datasets(loaded, splits, stems, src_lang, tgt_lang, str(directory))
    files = _local_files(directory)
    if not files:  # nothing named {stem}.{lang|tsv|jsonl}: let datasets discover the layout
        loaded = _load_with_datasets(str(directory), config, streaming, cache_dir)
        return _splits_from_datasets(loaded, splits, stems, src_lang, tgt_lang, str(directory))
    _reject_config(config, directory)
    raw = {}
    for split in splits:
        local = _find_local_split(directory, files, split, stems.get(split), src_lang, tgt_lang)
        raw[split] = (_local_dataset(local, split, src_lang, tgt_lang, streaming, cache_dir),
                      local.where)
    return raw


def _splits_from_datasets(loaded: Mapping[str, Corpus], splits: Sequence[str],
                          stems: dict[str, str], src_lang: str, tgt_lang: str,
                          where: str) -> dict[str, tuple[Corpus, str]]:
    raw = {}
    for split in splits:
        name, dataset = _pick_split(loaded, split, stems.get(split), where)
        split_where = f"{where} (split {name!r})"
        raw[split] = (_normalise_rows(dataset, src_lang, tgt_lang, split_where), split_where)
    return raw


def _reject_config(config: str | None, path: Path) -> None:
    if config is not None:
        raise DataError(f"{path}: config={config!r} applies to hub datasets and hub-layout "
                        "directories only")
