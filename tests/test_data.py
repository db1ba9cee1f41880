"""Tests for seq2seq.data: every source layout, cleaning rules and every bad input."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seq2seq.data import SPLITS, DataError, load_parallel, local_text_split, read_lines

DE = ["Ein Mädchen läuft.", "Zwei Hunde spielen im Schnee.", "Größe: 3,5 km – «Café»."]
EN = ["A girl runs.", "Two dogs play in the snow.", "Size: 3.5 km – «café»."]
VAL_DE = ["Ein Mann singt.", "", "Die Katze schläft."]
VAL_EN = ["A man sings.", "", "The cat sleeps."]
TEST_DE = ["Kinder lachen.", "Naïve Frage?"]
TEST_EN = ["Children laugh.", "Naive question?"]


@pytest.fixture(autouse=True)
def private_datasets_cache(tmp_path, monkeypatch):
    """Keep what datasets writes by default (streaming builders' lock files) in tmp_path."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-default-cache")


def write_lines(path: Path, lines: list[str], newline: str = "\n") -> Path:
    """Write ``lines`` as UTF-8, gzipped when the name ends in .gz."""
    data = "".join(line + newline for line in lines).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def text_corpus(directory: Path, val_stem: str = "val", test_stem: str = "test") -> Path:
    """Train gzipped, validation and test plain: the Multi30k layout in miniature."""
    write_lines(directory / "train.de.gz", DE)
    write_lines(directory / "train.en.gz", EN)
    write_lines(directory / f"{val_stem}.de", VAL_DE)
    write_lines(directory / f"{val_stem}.en", VAL_EN)
    write_lines(directory / f"{test_stem}.de", TEST_DE)
    write_lines(directory / f"{test_stem}.en", TEST_EN)
    return directory


def load(source, tmp_path: Path, *args, **kwargs):
    """load_parallel with the datasets cache inside the test's directory."""
    return load_parallel(str(source), *args, cache_dir=str(tmp_path / "hf-cache"), **kwargs)


def rows(dataset) -> list[tuple[str, str]]:
    return [(row["src"], row["tgt"]) for row in dataset]


def expected(src: list[str], tgt: list[str]) -> list[tuple[str, str]]:
    return list(zip(src, tgt))


def assert_pair_columns(dataset) -> None:
    assert dataset.features == datasets.Features({"src": datasets.Value("string"),
                                                  "tgt": datasets.Value("string")})


# ---- plain text directories -----------------------------------------------------------


def test_text_directory_gives_every_split_cleaned_and_in_order(tmp_path):
    corpus = text_corpus(tmp_path / "corpus")
    loaded = load(corpus, tmp_path, "de", "en")
    assert set(loaded) == set(SPLITS)
    for dataset in loaded.values():
        assert isinstance(dataset, datasets.Dataset)
        assert_pair_columns(dataset)
    assert rows(loaded["train"]) == expected(DE, EN)
    assert rows(loaded["validation"]) == expected(VAL_DE, VAL_EN)  # "val" found as fallback
    assert rows(loaded["test"]) == expected(TEST_DE, TEST_EN)


def test_direction_follows_the_language_arguments(tmp_path):
    loaded = load(text_corpus(tmp_path / "corpus"), tmp_path, "en", "de", splits=("test",))
    assert rows(loaded["test"]) == expected(TEST_EN, TEST_DE)


def test_split_stems_name_the_files(tmp_path):
    corpus = text_corpus(tmp_path / "corpus", val_stem="dev2016", test_stem="test_2016_flickr")
    loaded = load(corpus, tmp_path, "de", "en",
                  split_stems={"validation": "dev2016", "test": "test_2016_flickr"})
    assert rows(loaded["validation"]) == expected(VAL_DE, VAL_EN)
    assert rows(loaded["test"]) == expected(TEST_DE, TEST_EN)


@pytest.mark.parametrize("stem", ["validation", "valid", "val", "dev"])
def test_validation_split_falls_back_to_its_usual_names(tmp_path, stem):
    corpus = text_corpus(tmp_path / "corpus", val_stem=stem)
    loaded = load(corpus, tmp_path, "de", "en", splits=("validation",))
    assert rows(loaded["validation"]) == expected(VAL_DE, VAL_EN)


def test_local_text_split_finds_the_files_training_reads(tmp_path):
    corpus = text_corpus(tmp_path / "corpus", val_stem="dev")
    write_lines(corpus / "dev.en.gz", ["a gzipped twin that training does not read"])
    assert local_text_split(corpus, "validation", "de", "en") == (
        str(corpus / "dev.de"), str(corpus / "dev.en"))  # the alias, plain before .gz
    assert local_text_split(corpus, "test", "en", "de", stem="train") == (
        str(corpus / "train.en.gz"), str(corpus / "train.de.gz"))
    write_lines(corpus / "other.tsv", ["Ein Mann.\tA man."])
    with pytest.raises(DataError, match=r"other\.tsv: the 'test' split is a \.tsv file"):
        local_text_split(corpus, "test", "de", "en", stem="other")
    with pytest.raises(DataError, match="no files for the 'test' split: looked for nope"):
        local_text_split(corpus, "test", "de", "en", stem="nope")


def test_whitespace_and_crlf_are_stripped(tmp_path):
    write_lines(tmp_path / "c" / "test.de", ["  Hallo Welt \t", "\ufeffnein"], newline="\r\n")
    write_lines(tmp_path / "c" / "test.en", ["Hello world", " no "], newline="\r\n")
    loaded = load(tmp_path / "c", tmp_path, "de", "en", splits=("test",))
    assert rows(loaded["test"]) == [("Hallo Welt", "Hello world"), ("\ufeffnein", "no")]


def test_train_drops_pairs_with_an_empty_side_and_says_how_many(tmp_path, caplog):
    directory = text_corpus(tmp_path / "corpus")
    write_lines(directory / "train.de.gz", ["Hallo.", "", "Gut.", "   ", "Ja."])
    write_lines(directory / "train.en.gz", ["Hello.", "Orphan.", "Good.", "x", ""])
    with caplog.at_level(logging.WARNING, logger="seq2seq.data"):
        loaded = load(directory, tmp_path, "de", "en")
    assert rows(loaded["train"]) == [("Hallo.", "Hello."), ("Gut.", "Good.")]
    warning = " ".join(record.getMessage() for record in caplog.records)
    assert "dropped 3 of 5 training pairs" in warning
    assert "train.de.gz" in warning


def test_validation_and_test_keep_empty_lines_in_place(tmp_path):
    directory = text_corpus(tmp_path / "corpus")
    write_lines(directory / "test.de", ["", "Eins.", "", "Zwei.", ""])
    write_lines(directory / "test.en", ["Zero.", "One.", "", "", "Four."])
    loaded = load(directory, tmp_path, "de", "en")
    assert rows(loaded["test"]) == [("", "Zero."), ("Eins.", "One."), ("", ""), ("Zwei.", ""),
                                    ("", "Four.")]
    assert rows(loaded["validation"]) == expected(VAL_DE, VAL_EN)


def test_changed_files_are_read_again_not_served_from_the_cache(tmp_path):
    directory = text_corpus(tmp_path / "corpus")
    assert rows(load(directory, tmp_path, "de", "en")["test"]) == expected(TEST_DE, TEST_EN)
    write_lines(directory / "test.de", ["Neu und länger."])
    write_lines(directory / "test.en", ["New and longer."])
    assert rows(load(directory, tmp_path, "de", "en")["test"]) == [("Neu und länger.",
                                                                    "New and longer.")]


def test_streaming_text_reads_the_same_pairs_lazily(tmp_path, caplog):
    directory = text_corpus(tmp_path / "corpus")
    write_lines(directory / "train.de.gz", DE + [""])
    write_lines(directory / "train.en.gz", EN + ["Orphan."])
    with caplog.at_level(logging.WARNING, logger="seq2seq.data"):
        loaded = load(directory, tmp_path, "de", "en", streaming=True)
        assert all(isinstance(d, datasets.IterableDataset) for d in loaded.values())
        assert rows(loaded["train"]) == expected(DE, EN)
    assert rows(loaded["validation"]) == expected(VAL_DE, VAL_EN)
    assert "dropped 1 training pairs" in caplog.text and "train.de.gz" in caplog.text


def test_streaming_detects_a_file_ending_early(tmp_path):
    directory = text_corpus(tmp_path / "corpus")
    write_lines(directory / "train.en.gz", EN[:2])
    stream = load(directory, tmp_path, "de", "en", streaming=True)["train"]  # lazy: no error yet
    with pytest.raises(DataError, match=r"train\.de\.gz has 3 lines but .*train\.en\.gz has 2"):
        list(stream)


# ---- TSV and JSON Lines ---------------------------------------------------------------


def test_tsv_directory_and_gzip(tmp_path):
    directory = tmp_path / "tsv"
    write_lines(directory / "train.tsv.gz", [f"{de}\t{en}" for de, en in zip(DE, EN)])
    write_lines(directory / "dev.tsv", [f"{de}\t{en}" for de, en in zip(VAL_DE, VAL_EN)])
    write_lines(directory / "test.tsv", [f" {de} \t {en} " for de, en in zip(TEST_DE, TEST_EN)])
    loaded = load(directory, tmp_path, "de", "en")
    assert rows(loaded["train"]) == expected(DE, EN)
    assert rows(loaded["validation"]) == expected(VAL_DE, VAL_EN)
    assert rows(loaded["test"]) == expected(TEST_DE, TEST_EN)


def test_single_tsv_file_is_the_one_requested_split(tmp_path):
    path = write_lines(tmp_path / "newstest.tsv", [f"{de}\t{en}" for de, en in zip(VAL_DE, VAL_EN)])
    loaded = load(path, tmp_path, "de", "en", splits=("test",))
    assert list(loaded) == ["test"]
    assert rows(loaded["test"]) == expected(VAL_DE, VAL_EN)  # the empty pair is kept


def test_single_file_as_train_split_is_cleaned_like_train(tmp_path):
    path = write_lines(tmp_path / "pairs.tsv", ["Ja.\tYes.", "\tNothing."])
    loaded = load(path, tmp_path, "de", "en", splits=("train",))
    assert rows(loaded["train"]) == [("Ja.", "Yes.")]


def test_jsonl_in_both_shapes(tmp_path):
    directory = tmp_path / "jsonl"
    flat = [json.dumps({"en": en, "de": de}, ensure_ascii=False) for de, en in zip(DE, EN)]
    nested = [json.dumps({"translation": {"de": de, "en": en}, "id": i})
              for i, (de, en) in enumerate(zip(VAL_DE, VAL_EN))]
    write_lines(directory / "train.jsonl", flat + [""])  # a blank line is no record
    write_lines(directory / "validation.jsonl.gz", nested)
    write_lines(directory / "test.jsonl", [json.dumps({"de": TEST_DE[0], "en": None})])
    loaded = load(directory, tmp_path, "de", "en")
    assert rows(loaded["train"]) == expected(DE, EN)
    assert rows(loaded["validation"]) == expected(VAL_DE, VAL_EN)
    assert rows(loaded["test"]) == [(TEST_DE[0], "")]


def test_single_jsonl_file_streams(tmp_path):
    path = write_lines(tmp_path / "one.jsonl",
                       [json.dumps({"translation": {"de": de, "en": en}}) for de, en in zip(DE, EN)])
    loaded = load(path, tmp_path, "en", "de", splits=("validation",), streaming=True)
    assert rows(loaded["validation"]) == expected(EN, DE)


# ---- datasets sources: save_to_disk, hub layout, hub names -------------------------------


def translation_dict() -> datasets.DatasetDict:
    """Rows with a ``translation`` column and the hub's "valid" naming."""
    features = datasets.Features({"translation": datasets.Translation(languages=["de", "en"]),
                                  "id": datasets.Value("int32")})

    def split(de, en):
        return datasets.Dataset.from_dict(
            {"translation": [{"de": d, "en": e} for d, e in zip(de, en)],
             "id": list(range(len(de)))}, features=features)

    return datasets.DatasetDict({"train": split(DE + [""], EN + ["x"]),
                                 "valid": split(VAL_DE, VAL_EN), "test": split(TEST_DE, TEST_EN)})


def test_save_to_disk_directory_with_translation_rows(tmp_path):
    translation_dict().save_to_disk(str(tmp_path / "saved"))
    loaded = load(tmp_path / "saved", tmp_path, "de", "en")
    for dataset in loaded.values():
        assert_pair_columns(dataset)
    assert rows(loaded["train"]) == expected(DE, EN)  # the pair with an empty side went
    assert rows(loaded["validation"]) == expected(VAL_DE, VAL_EN)
    assert rows(loaded["test"]) == expected(TEST_DE, TEST_EN)


def test_save_to_disk_directory_streams(tmp_path):
    translation_dict().save_to_disk(str(tmp_path / "saved"))
    loaded = load(tmp_path / "saved", tmp_path, "en", "de", streaming=True)
    assert isinstance(loaded["test"], datasets.IterableDataset)
    assert rows(loaded["train"]) == expected(EN, DE)
    assert rows(loaded["validation"]) == expected(VAL_EN, VAL_DE)


def test_saved_single_dataset_is_one_split(tmp_path):
    translation_dict()["test"].save_to_disk(str(tmp_path / "one"))
    loaded = load(tmp_path / "one", tmp_path, "de", "en", splits=("test",))
    assert rows(loaded["test"]) == expected(TEST_DE, TEST_EN)


def parquet_hub_layout(directory: Path) -> Path:
    """The layout of a hub dataset repository: one column per language, parquet shards."""
    for split, de, en in [("train", DE, EN), ("validation", VAL_DE, VAL_EN),
                          ("test", TEST_DE, TEST_EN)]:
        (directory / "data").mkdir(parents=True, exist_ok=True)
        table = pa.table({"en": en, "de": de})
        pq.write_table(table, directory / "data" / f"{split}-00000-of-00001.parquet")
    (directory / "README.md").write_text("# a dataset card\n")
    return directory


def test_parquet_hub_layout_with_one_column_per_language(tmp_path):
    loaded = load(parquet_hub_layout(tmp_path / "hub"), tmp_path, "de", "en")
    for dataset in loaded.values():
        assert_pair_columns(dataset)
    assert rows(loaded["train"]) == expected(DE, EN)
    assert rows(loaded["validation"]) == expected(VAL_DE, VAL_EN)
    assert rows(loaded["test"]) == expected(TEST_DE, TEST_EN)


def test_parquet_hub_layout_streams(tmp_path):
    loaded = load(parquet_hub_layout(tmp_path / "hub"), tmp_path, "en", "de", streaming=True)
    assert isinstance(loaded["train"], datasets.IterableDataset)
    assert rows(loaded["train"]) == expected(EN, DE)
    assert rows(loaded["validation"]) == expected(VAL_EN, VAL_DE)


def fake_hub(monkeypatch, dataset_dict) -> list:
    """Replace datasets.load_dataset; returns the list its calls are recorded in."""
    calls = []

    def load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs.get("streaming")))
        return dataset_dict

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_name_goes_to_load_dataset_with_its_config(tmp_path, monkeypatch):
    hub = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"translation": [{"fr": "Oui.", "en": "Yes."}]}),
        "dev": datasets.Dataset.from_dict({"translation": [{"fr": "", "en": "No."}]}),
        "test": datasets.Dataset.from_dict({"translation": [{"fr": "Merci.", "en": "Thanks."}]}),
    })
    calls = fake_hub(monkeypatch, hub)
    loaded = load("wmt14", tmp_path, "en", "fr", config="fr-en")
    assert calls == [("wmt14", "fr-en", False)]
    assert rows(loaded["train"]) == [("Yes.", "Oui.")]
    assert rows(loaded["validation"]) == [("No.", "")]  # "dev" is the validation split
    assert rows(loaded["test"]) == [("Thanks.", "Merci.")]


def test_hub_stream_with_undeclared_features_is_read_from_its_rows(tmp_path, monkeypatch):
    def generate():
        yield {"translation": {"de": " Ja. ", "en": "Yes."}, "id": 0}
        yield {"translation": {"de": "", "en": "Nothing."}, "id": 1}

    stream = datasets.IterableDataset.from_generator(generate)
    assert stream.features is None
    calls = fake_hub(monkeypatch, datasets.IterableDatasetDict(
        {"train": stream, "validation": stream, "test": stream}))
    loaded = load("owner/corpus", tmp_path, "en", "de", streaming=True)
    assert calls == [("owner/corpus", None, True)]
    assert rows(loaded["train"]) == [("Yes.", "Ja.")]
    assert rows(loaded["validation"]) == [("Yes.", "Ja."), ("Nothing.", "")]
    with pytest.raises(DataError, match=r"owner/corpus.*unknown language 'fr'.*available: de, en"):
        load("owner/corpus", tmp_path, "en", "fr", streaming=True)


def test_hub_falls_back_from_file_stems_to_standard_split_names(tmp_path, monkeypatch, caplog):
    fake_hub(monkeypatch, translation_dict())
    with caplog.at_level(logging.WARNING, logger="seq2seq.data"):
        loaded = load("bentrevett/multi30k", tmp_path, "de", "en",
                      split_stems={"validation": "val", "test": "test_2016_flickr"})
    assert rows(loaded["test"]) == expected(TEST_DE, TEST_EN)
    assert "no split 'test_2016_flickr'; using its 'test' split" in caplog.text


def test_hub_errors_become_data_errors(tmp_path, monkeypatch):
    def load_dataset(path, name=None, **kwargs):
        raise datasets.exceptions.DatasetNotFoundError(f"Dataset '{path}' doesn't exist")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DataError, match="no-such/dataset"):
        load("no-such/dataset", tmp_path, "de", "en")


# ---- filtering ------------------------------------------------------------------------


# ---- read_lines -----------------------------------------------------------------------


def test_read_lines_splits_on_newline_only(tmp_path):
    path = tmp_path / "x.txt.gz"
    path.write_bytes(gzip.compress("\ufeffeins\r\nzwei\rdrei\u2028vier\n\nfünf".encode()))
    assert list(read_lines(path)) == ["eins", "zwei\rdrei\u2028vier", "", "fünf"]


# ---- bad input ------------------------------------------------------------------------


def test_line_count_mismatch_names_both_files_and_counts(tmp_path):
    directory = text_corpus(tmp_path / "c")
    write_lines(directory / "val.en", VAL_EN + ["extra", "more"])
    with pytest.raises(DataError) as error:
        load(directory, tmp_path, "de", "en")
    assert f"{directory / 'val.de'} has 3 lines but {directory / 'val.en'} has 5" in str(error.value)


@pytest.mark.parametrize("name", ["test.en", "test.en.gz"])
def test_invalid_utf8_names_file_and_line(tmp_path, name):
    directory = text_corpus(tmp_path / "c")
    (directory / "test.en").unlink()
    data = b"fine\nalso fine\nbad \xff byte\n"
    (directory / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(DataError, match=rf"{name}:3: invalid UTF-8"):
        load(directory, tmp_path, "de", "en", splits=("test",))


def test_missing_split_names_the_expected_files_and_what_exists(tmp_path):
    directory = text_corpus(tmp_path / "c")
    for path in directory.glob("val.*"):
        path.unlink()
    with pytest.raises(DataError) as error:
        load(directory, tmp_path, "de", "en")
    message = str(error.value)
    assert "'validation' split" in message and "val.{de,en}" in message
    assert str(directory) in message and "stems present: test, train" in message


def test_explicit_stem_must_exist(tmp_path):
    directory = text_corpus(tmp_path / "c")
    with pytest.raises(DataError, match=r"test_2016_flickr\.\{de,en\}.*stems present"):
        load(directory, tmp_path, "de", "en", split_stems={"test": "test_2016_flickr"})


def test_unknown_language_in_a_directory_lists_the_languages(tmp_path):
    directory = text_corpus(tmp_path / "c")
    with pytest.raises(DataError, match=r"train\.fr not found .* languages available .*: de, en"):
        load(directory, tmp_path, "fr", "en")


def test_unknown_language_in_a_dataset_lists_the_languages(tmp_path):
    translation_dict().save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(DataError, match=r"saved.*unknown language 'fr'.*available: de, en"):
        load(tmp_path / "saved", tmp_path, "de", "fr")


def test_unknown_language_column_lists_the_columns(tmp_path):
    with pytest.raises(DataError, match=r"hub.*'cs'.*columns available: en, de"):
        load(parquet_hub_layout(tmp_path / "hub"), tmp_path, "cs", "en")


def test_missing_split_in_a_dataset_lists_the_splits(tmp_path):
    translation_dict().save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(DataError, match=r"saved has no 'heldout' split.*available: train, valid"):
        load(tmp_path / "saved", tmp_path, "de", "en", splits=("train", "heldout"))


@pytest.mark.parametrize("line, tabs", [("no tab here", 0), ("one\ttwo\tthree", 2)])
def test_tsv_line_without_exactly_one_tab_names_file_and_line(tmp_path, line, tabs):
    path = write_lines(tmp_path / "pairs.tsv", ["a\tb", "c\td", line])
    with pytest.raises(DataError, match=rf"pairs\.tsv:3: expected .*found {tabs} tabs"):
        load(path, tmp_path, "de", "en", splits=("test",))


@pytest.mark.parametrize("line, problem", [
    ('{"de": "Hallo"', "invalid JSON"),
    ('["Hallo", "Hello"]', "expected a JSON object"),
    ('{"de": "Hallo", "fr": "Bonjour"}', "no 'en' text; languages available: de, fr"),
    ('{"de": "Hallo", "en": 3}', "texts must be strings, not int"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, line, problem):
    path = write_lines(tmp_path / "pairs.jsonl", ['{"de": "Ja", "en": "Yes"}', line])
    with pytest.raises(DataError, match=rf"pairs\.jsonl:2: {problem}"):
        load(path, tmp_path, "de", "en", splits=("test",))


def test_single_file_cannot_be_several_splits(tmp_path):
    path = write_lines(tmp_path / "all.tsv", ["a\tb"])
    with pytest.raises(DataError, match=r"all\.tsv holds one split"):
        load(path, tmp_path, "de", "en")


def test_unsupported_single_file(tmp_path):
    path = write_lines(tmp_path / "corpus.de", ["Hallo"])
    with pytest.raises(DataError, match=r"corpus\.de: unsupported file type"):
        load(path, tmp_path, "de", "en", splits=("test",))


def test_missing_local_path(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: no such file or directory"):
        load(tmp_path / "nowhere", tmp_path, "de", "en")


def test_same_language_twice(tmp_path):
    with pytest.raises(DataError, match="both 'de'"):
        load(text_corpus(tmp_path / "c"), tmp_path, "de", "de")


def test_bad_split_names_and_stems(tmp_path):
    corpus = text_corpus(tmp_path / "c")
    with pytest.raises(DataError, match="split names must be words"):
        load(corpus, tmp_path, "de", "en", splits=("test-2016",))
    with pytest.raises(DataError, match=r"split_stems names unknown splits \['valid'\]"):
        load(corpus, tmp_path, "de", "en", split_stems={"valid": "dev"})


def test_config_for_local_files_is_refused(tmp_path):
    with pytest.raises(DataError, match="config='fr-en'"):
        load(text_corpus(tmp_path / "c"), tmp_path, "de", "en", config="fr-en")


def test_read_lines_of_a_missing_or_corrupt_file(tmp_path):
    with pytest.raises(DataError, match=r"absent\.txt: no such file"):
        list(read_lines(tmp_path / "absent.txt"))
    (tmp_path / "broken.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"broken\.gz: cannot read"):
        list(read_lines(tmp_path / "broken.gz"))
