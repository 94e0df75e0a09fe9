"""Real-world CSV exports: BOMs, duplicates, blank lines, ISO times, other delimiters, mappings.

Each defect found with a real-style export of ML-100K has a test here; every error is one line
per kind of problem (first few lines, then a count), naming the file's real line numbers.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from recbench.data import load_dataset
from recbench.data.base import resolve_dataset_name, to_timestamp
from recbench.errors import ConfigError, DataError

BOM = b"\xef\xbb\xbf"
ITEMS = 'item,title,genres,year\n1,Heat,Action|Crime,1995\n2,"Usual Suspects, The",Crime,1995\n3,Fargo,Crime,1996\n'
INTER = "user,item,timestamp\n1,1,100\n1,2,200\n1,3,300\n2,3,100\n"


def write(
    folder, items: str | bytes = ITEMS, inter: str | bytes = INTER, names=("items.csv", "interactions.csv")
):
    for name, content in zip(names, (items, inter), strict=True):
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def error(folder, **options) -> str:
    with pytest.raises(DataError) as info:
        load_dataset("csv", folder, **options)
    return str(info.value)


# --- byte-order marks ---------------------------------------------------------------------------


def test_bom_in_items_keeps_the_year_column(tmp_path):
    # year first: with the BOM glued to its name the column used to vanish silently
    items = "year,item,title\n1995,1,Heat\n1996,2,Fargo\n"
    write(tmp_path, BOM + items.encode(), "user,item,timestamp\n1,1,1\n1,2,2\n")
    data = load_dataset("csv", tmp_path)
    assert [(i.title, i.year) for i in data.items] == [("Heat (1995)", 1995), ("Fargo (1996)", 1996)]


def test_bom_in_interactions_is_not_part_of_the_first_column(tmp_path):
    write(tmp_path, ITEMS, BOM + b"timestamp,user,item\n100,1,1\n200,1,2\n")
    assert load_dataset("csv", tmp_path).sequences == [[1, 2]]


def test_utf16_file_is_named_as_such(tmp_path):
    write(tmp_path, ITEMS, INTER.encode("utf-16"))
    assert "interactions.csv: file is UTF-16" in error(tmp_path)


# --- duplicates, unknown items, empty files -----------------------------------------------------


def test_duplicate_item_ids_are_an_error_naming_both_lines(tmp_path):
    write(tmp_path, ITEMS + "2,Other,Drama,1990\n")
    assert error(tmp_path).endswith("items.csv: line 5: duplicate item id: '2', first on line 3")


def test_every_duplicate_is_reported_in_one_line(tmp_path):
    write(tmp_path, ITEMS + "2,Other,Drama,1990\n3,Again,Drama,1990\n")
    message = error(tmp_path)
    assert len(message.splitlines()) == 1
    assert message.endswith(
        "items.csv: duplicate item id on 2 lines: line 5 ('2', first on line 3), line 6 ('3', first on line 4)"
    )


def test_unknown_item_is_reported_with_its_line(tmp_path):
    write(tmp_path, ITEMS, INTER + "2,9,400\n")
    assert error(tmp_path).endswith("interactions.csv: line 6: item has no row in items.csv: '9'")


def test_item_file_with_only_a_header_has_its_own_message(tmp_path):
    write(tmp_path, "item,title,genres,year\n")
    message = error(tmp_path)
    assert message.endswith("items.csv: no items: the file has no data rows")
    assert "interactions.csv" not in message


def test_interaction_file_with_only_a_header(tmp_path):
    write(tmp_path, ITEMS, "user,item,timestamp\n\n")
    assert error(tmp_path).endswith("interactions.csv: no interactions: the file has no data rows")


# --- line numbers -------------------------------------------------------------------------------


def test_line_numbers_after_a_blank_line_are_the_files_own(tmp_path):
    write(tmp_path, ITEMS, "user,item,timestamp\n1,1,100\n\n1,2,200\n   \n1,3,\n")
    assert error(tmp_path).endswith("interactions.csv: line 6: field 'timestamp' is empty")


def test_line_numbers_after_a_multiline_quoted_title(tmp_path):
    write(tmp_path, 'item,title\n1,"Two\nlines"\n1,Again\n')
    assert error(tmp_path).endswith("items.csv: line 4: duplicate item id: '1', first on line 2")


def test_all_bad_rows_of_one_kind_in_one_line_with_a_count(tmp_path):
    rows = "".join(f"1,{i % 3 + 1},t{i}\n" for i in range(9))
    write(tmp_path, ITEMS, "user,item,timestamp\n" + rows)
    message = error(tmp_path)
    assert len(message.splitlines()) == 1
    assert message.split("interactions.csv: ")[1].startswith(
        "field 'timestamp' is not a number or an ISO-8601 time on 9 lines: "
        "line 2 ('t0'), line 3 ('t1'), line 4 ('t2'), line 5 ('t3'), line 6 ('t4') and 4 more; accepted:"
    )


def test_each_kind_of_problem_gets_one_line(tmp_path):
    write(tmp_path, ITEMS + "4,,Drama,1990\n1,Dup,Drama,1990\n", "user,item,timestamp\n1,1,x\n1,,5\n1,2,y\n")
    lines = error(tmp_path).splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("items.csv: line 5: field 'title' is empty")
    assert lines[1].endswith("items.csv: line 6: duplicate item id: '1', first on line 2")
    assert "interactions.csv: field 'timestamp' is not a number or an ISO-8601 time on 2 lines" in lines[2]
    assert lines[3].endswith("interactions.csv: line 3: field 'item' is empty")


def test_more_fields_than_the_header_is_an_error(tmp_path):
    # an unquoted comma in a title shifts every later field
    write(tmp_path, ITEMS + "4,Usual Suspects, The,Crime,1995\n")
    assert error(tmp_path).endswith(
        "items.csv: line 5: more fields than the header: 5 fields where the header has 4; "
        "quote a field that holds the delimiter (',')"
    )


# --- timestamps ---------------------------------------------------------------------------------


def test_iso_8601_timestamps(tmp_path):
    inter = "user,item,timestamp\n1,3,1997-12-04T15:55:49Z\n1,1,1997-12-04T16:55:48+01:00\n1,2,1997-12-04 15:55:50\n"
    write(tmp_path, ITEMS, inter)
    # 16:55:48+01:00 is 15:55:48Z, one second before item 3; the naive time is read as UTC
    assert load_dataset("csv", tmp_path).sequences == [[1, 3, 2]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("881250949", 881250949.0),
        (" 881250949.5 ", 881250949.5),
        ("1997-12-04T15:55:49Z", 881250949.0),
        ("1997-12-04T15:55:49z", 881250949.0),
        ("1997-12-04T15:55:49", 881250949.0),
        ("1997-12-04 15:55:49", 881250949.0),
        ("1997-12-04T16:55:49+01:00", 881250949.0),
        ("1997-12-04T10:25:49-0530", 881250949.0),
        ("1997-12-04T17:55:49+02", 881250949.0),
        ("1997-12-04T15:55:49.25Z", 881250949.25),
        ("1997-12-04T15:55Z", 881250900.0),
        ("1997-12-04", datetime(1997, 12, 4, tzinfo=timezone.utc).timestamp()),
    ],
)
def test_timestamp_formats(text, expected):
    assert to_timestamp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "nan",
        "inf",
        "12/04/1997",
        "1997-13-04",
        "1997-12-04T25:00",
        "1997-12-04Z",
        "1997-12-04T15:55+25:00",
    ],
)
def test_timestamps_refused(text):
    assert to_timestamp(text) is None


# --- years --------------------------------------------------------------------------------------


def test_year_that_is_not_an_integer_falls_back_to_the_title(tmp_path):
    write(tmp_path, "item,title,year\n1,Heat (1995),V\n2,Fargo,unknown\n3,Casino,1995.0\n")
    data = load_dataset("csv", tmp_path)
    assert [(i.title, i.year) for i in data.items] == [
        ("Heat (1995)", 1995),
        ("Fargo", None),
        ("Casino (1995)", 1995),
    ]


# --- delimiters ---------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_sniffed_from_the_header(tmp_path, delimiter):
    items = "item;title;year\n1;Heat;1995\n2;Usual Suspects, The;1995\n3;Fargo;1996\n".replace(";", delimiter)
    write(tmp_path, items, INTER.replace(",", delimiter))
    data = load_dataset("csv", tmp_path)
    assert data.title(2) == "Usual Suspects, The (1995)" and data.sequences == [[1, 2, 3], [3]]


def test_missing_column_names_the_delimiter_read(tmp_path):
    write(tmp_path, ITEMS, "user_id;movie_id;ts\n1;1;100\n")
    assert error(tmp_path).endswith(
        "interactions.csv: missing columns 'user', 'item', 'timestamp' (header has: user_id, movie_id, ts; "
        "read as semicolon-separated); map yours with --columns, e.g. --columns user=NAME"
    )


# --- column and file mapping --------------------------------------------------------------------


def test_columns_and_file_names_can_be_mapped(tmp_path):
    items = "movie_id;name;genres;year\n1;Heat;Action;1995\n2;Fargo;Crime;1996\n"
    write(
        tmp_path,
        items,
        "user_id,movie_id,ts\n1,2,1997-12-04T15:55:49Z\n1,1,881250950\n",
        ("movies.csv", "ratings.csv"),
    )
    data = load_dataset(
        "csv",
        tmp_path,
        columns="user=user_id,item=movie_id,timestamp=ts,title=name",
        interactions_file="ratings.csv",
        items_file="movies.csv",
    )
    assert [i.title for i in data.items] == ["Heat (1995)", "Fargo (1996)"] and data.sequences == [[2, 1]]
    assert set(data.files) == {"ratings.csv", "movies.csv"}


def test_a_mapped_optional_column_must_exist(tmp_path):
    write(tmp_path)
    assert "items.csv: missing column 'released'" in error(tmp_path, columns="year=released")


def test_missing_mapped_file_names_the_option(tmp_path):
    write(tmp_path)
    message = error(tmp_path, items_file="movies.csv")
    assert message.endswith(
        "reads interactions.csv and movies.csv from --data-dir; name other files with --items-file)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": "user"}, r"--columns: 'user' is not FIELD=COLUMN"),
        ({"columns": "usr=user_id"}, r"unknown field of dataset 'csv' 'usr' .*did you mean 'user'\?"),
        ({"columns": "user=id,item=id"}, r"fields 'user' and 'item' both read column 'id'"),
        (
            {"items_file": "../items.csv"},
            r"--items-file '../items.csv': give the name of a file inside --data-dir",
        ),
        ({"interactions_file": "items.csv"}, r"interactions and items both read from 'items.csv'"),
        ({"columns": "title=a[b]"}, r"names may not be empty or hold"),
    ],
)
def test_bad_mappings_are_one_line(tmp_path, kwargs, message):
    write(tmp_path)
    with pytest.raises(ConfigError, match=message):
        resolve_dataset_name("csv", **kwargs)


def test_mapping_options_apply_to_csv_only():
    with pytest.raises(ConfigError, match="dataset 'ml-100k' takes no options"):
        resolve_dataset_name(None, "user=user_id")


def test_resolve_dataset_name_is_canonical():
    assert (
        resolve_dataset_name("csv", "user=u,item=item", items_file="m.csv") == "csv[items_file=m.csv,user=u]"
    )
    assert resolve_dataset_name("csv", "user=user") == "csv"
    assert resolve_dataset_name(None) is None and resolve_dataset_name("ml-100k") == "ml-100k"
    assert resolve_dataset_name("csv[user=user]") == "csv"
    assert resolve_dataset_name("csv[ user=u ,title=t]", items_file="items.csv") == "csv[title=t,user=u]"
