"""Every malformed dataset gets one clear line naming the file and the field."""

from __future__ import annotations

import pytest

from recbench.data import load_dataset
from recbench.errors import DataError

FLAGS = "|".join(["0"] * 19)


def grouplens(tmp_path, data: bytes | str, item: bytes | str):
    for name, content in (("u.data", data), ("u.item", item)):
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return tmp_path


GOOD_ITEM = f"1|A (1990)|01-Jan-1990||u|{FLAGS}\n2|B (1991)|01-Jan-1991||u|{FLAGS}\n"
GOOD_DATA = "1\t1\t5\t100\n1\t2\t3\t200\n"


def test_missing_file_is_named(tmp_path):
    (tmp_path / "u.data").write_text(GOOD_DATA)
    with pytest.raises(DataError, match=r"u\.item: file not found"):
        load_dataset("ml-100k", tmp_path)


def test_data_dir_that_is_not_a_folder(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        load_dataset("ml-100k", tmp_path / "nope")


def test_non_numeric_user_id_names_line_and_field(tmp_path):
    grouplens(tmp_path, "1\t1\t5\t100\nabc\t2\t3\t200\n", GOOD_ITEM)
    with pytest.raises(DataError, match=r"u\.data: line 2: field 'user id' is not an integer: 'abc'"):
        load_dataset("ml-100k", tmp_path)


def test_missing_field_is_named(tmp_path):
    grouplens(tmp_path, "1\t1\t5\n", GOOD_ITEM)
    with pytest.raises(DataError, match=r"u\.data: line 1: missing field 'timestamp'"):
        load_dataset("ml-100k", tmp_path)


def test_empty_file(tmp_path):
    grouplens(tmp_path, "", GOOD_ITEM)
    with pytest.raises(DataError, match=r"u\.data: file is empty"):
        load_dataset("ml-100k", tmp_path)


def test_undecodable_title_bytes_name_file_and_line(tmp_path):
    # 0x81 is undefined in both UTF-8 (as a start byte) and cp1252
    grouplens(tmp_path, GOOD_DATA, GOOD_ITEM.encode() + f"3|Bad\x81 (1990)|||u|{FLAGS}\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"u\.item: line 3: undecodable byte"):
        load_dataset("ml-100k", tmp_path)


def test_interaction_with_unknown_item(tmp_path):
    grouplens(tmp_path, GOOD_DATA + "1\t9\t3\t300\n", GOOD_ITEM)
    with pytest.raises(DataError, match=r"u\.data: line 3: item has no row in u\.item: '9'$"):
        load_dataset("ml-100k", tmp_path)


def test_csv_missing_column_is_named(tmp_path):
    (tmp_path / "interactions.csv").write_text("user,item\n1,1\n")
    (tmp_path / "items.csv").write_text("item,title\n1,A\n")
    with pytest.raises(DataError, match=r"interactions\.csv: missing column 'timestamp'"):
        load_dataset("csv", tmp_path)


def test_csv_non_numeric_timestamp(tmp_path):
    (tmp_path / "interactions.csv").write_text("user,item,timestamp\n1,1,yesterday\n")
    (tmp_path / "items.csv").write_text("item,title\n1,A\n")
    with pytest.raises(DataError, match=r"interactions\.csv: line 2: field 'timestamp' is not a number"):
        load_dataset("csv", tmp_path)


def test_csv_undecodable_title(tmp_path):
    (tmp_path / "interactions.csv").write_text("user,item,timestamp\n1,1,1\n")
    (tmp_path / "items.csv").write_bytes(b"item,title\n1,Caf\xe9\n")
    with pytest.raises(DataError, match=r"items\.csv: line 2: undecodable byte"):
        load_dataset("csv", tmp_path)


def test_csv_needs_data_dir():
    with pytest.raises(DataError, match="needs --data-dir"):
        load_dataset("csv")


def test_recbole_missing_column(tmp_path):
    (tmp_path / "ml-100k.inter").write_text("user_id:token\titem_id:token\trating:float\n1\t1\t5\n")
    (tmp_path / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    )
    with pytest.raises(DataError, match=r"ml-100k\.inter: missing column 'timestamp'"):
        load_dataset("ml-100k", tmp_path)
