"""The dataset identity (sha256) is pinned: committed caches, checkpoints and submissions are keyed on it.

A file with LF line ends and no byte-order mark hashes to the sha256 of its bytes, as it always did;
CRLF line ends and a UTF-8 BOM are normalised away before hashing, so re-saving a file on another OS
or editor keeps the identity. A column mapping or other file names change the identity.
"""

from __future__ import annotations

import hashlib
import shutil

from recbench.data import load_dataset
from recbench.data.movielens import recbole_ml100k_dir
from tests.conftest import TINY

# Computed before the loaders learned BOMs, CRLF and column mappings: never change these.
ML100K_SHA256 = "5752def8ad12f6b3cd2edbed59b297adee8d78dba8e924f377628522270a0cf5"
ML100K_FILES = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}
# The tiny fixture is written with CRLF line ends (Python's csv module), so its identity is that of
# its LF form. Before CRLF was normalised it was 992bc99e967ddc45ce9c5b8096c744140bc38263dcf0f85eb5cf89dc025bc581
# (raw bytes); nothing committed was keyed on that (test caches are made per session).
TINY_SHA256 = "fa50c1c7d06760df59ae36b28dad5e6259ebb7587d18a87e1b984c0446e3636f"
TINY_FILES = {
    "interactions.csv": "965fed2b2aa7daa69384b1843005bd9e1a5dfd6b416531135818467514d238bb",
    "items.csv": "d543af539cc139076c2fecf82c5adaf76a05aa8c196015a7bcef67256723e2b0",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_ml100k_sha256_is_pinned():
    data = load_dataset("ml-100k")
    assert data.files == ML100K_FILES
    assert data.sha256 == ML100K_SHA256
    assert data.name == "ml-100k" and "options" not in data.card()
    # an LF file without BOM: its identity is the sha256 of its bytes
    folder = recbole_ml100k_dir()
    assert {name: sha((folder / name).read_bytes()) for name in ML100K_FILES} == ML100K_FILES


def test_tiny_csv_sha256_is_pinned():
    data = load_dataset("csv", TINY)
    assert data.files == TINY_FILES
    assert data.sha256 == TINY_SHA256
    assert data.name == "csv" and "options" not in data.card()


def test_crlf_and_lf_give_the_same_sha256(tmp_path):
    lf, crlf = tmp_path / "lf", tmp_path / "crlf"
    for folder, ending in ((lf, b"\n"), (crlf, b"\r\n")):
        folder.mkdir()
        for name in ("interactions.csv", "items.csv"):
            (folder / name).write_bytes((TINY / name).read_bytes().replace(b"\r\n", ending))
    a, b = load_dataset("csv", lf), load_dataset("csv", crlf)
    assert a.sha256 == b.sha256 == TINY_SHA256
    assert (a.items, a.users, a.sequences) == (b.items, b.users, b.sequences)
    # and the LF files hash exactly as their bytes
    assert a.files == {name: sha((lf / name).read_bytes()) for name in TINY_FILES}


def test_a_utf8_bom_does_not_change_the_sha256(tmp_path):
    for name in ("interactions.csv", "items.csv"):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + (TINY / name).read_bytes())
    data = load_dataset("csv", tmp_path)
    assert data.sha256 == TINY_SHA256
    assert data.items == load_dataset("csv", TINY).items


def test_ml100k_copied_with_crlf_keeps_its_sha256(tmp_path):
    src = recbole_ml100k_dir()
    for name in ML100K_FILES:
        (tmp_path / name).write_bytes((src / name).read_bytes().replace(b"\n", b"\r\n"))
    assert load_dataset("ml-100k", tmp_path).sha256 == ML100K_SHA256


def test_column_mapping_is_part_of_name_card_and_identity(tmp_path):
    shutil.copy(TINY / "interactions.csv", tmp_path / "ratings.csv")
    items = (TINY / "items.csv").read_bytes().replace(b"item,title,", b"movie_id,name,", 1)
    (tmp_path / "movies.csv").write_bytes(items)
    inter = (tmp_path / "ratings.csv").read_bytes().replace(b"user,item,", b"user,movie_id,", 1)
    (tmp_path / "ratings.csv").write_bytes(inter)
    data = load_dataset(
        "csv",
        tmp_path,
        columns="item=movie_id,title=name",
        interactions_file="ratings.csv",
        items_file="movies.csv",
    )
    tiny = load_dataset("csv", TINY)
    assert (data.items, data.sequences) == (tiny.items, tiny.sequences)
    name = "csv[interactions_file=ratings.csv,item=movie_id,items_file=movies.csv,title=name]"
    assert data.name == name
    card = data.card()
    assert card["name"] == name and card["options"] == {
        "interactions_file": "ratings.csv",
        "item": "movie_id",
        "items_file": "movies.csv",
        "title": "name",
    }
    assert data.sha256 != tiny.sha256
    # the card's name alone reads the dataset again (as reload, rescoring and validation do)
    assert load_dataset(card["name"], tmp_path).sha256 == data.sha256


def test_same_files_two_mappings_two_identities(tmp_path):
    (tmp_path / "interactions.csv").write_text("user,item,timestamp,other\n1,1,5,2\n1,2,6,1\n")
    (tmp_path / "items.csv").write_text("item,other,title\n1,1,A\n2,2,B\n")
    plain = load_dataset("csv", tmp_path)
    swapped = load_dataset("csv", tmp_path, columns={"item": "other"})
    assert plain.files == swapped.files and plain.sha256 != swapped.sha256
    assert plain.sequences == [[1, 2]] and swapped.sequences == [[2, 1]]


def test_mapping_that_changes_nothing_is_the_plain_dataset(tmp_path):
    data = load_dataset("csv", TINY, columns="user=user,item=item", items_file="items.csv")
    assert data.name == "csv" and data.sha256 == TINY_SHA256
