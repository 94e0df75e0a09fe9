"""Dataset loading, ordering, splits and the dataset card."""

from __future__ import annotations

import shutil

import pytest

from recbench.data import leave_one_out, load_dataset, make_windows, split_windows_by_user
from recbench.data.base import display_title, parse_year
from recbench.data.splits import dataset_card
from recbench.errors import DataError, UnknownNameError


def test_tiny_csv_loads_titles_genres_and_years(tiny_data):
    assert tiny_data.n_items == 24
    assert len(tiny_data.users) == 30
    assert tiny_data.title(2) == "Glass River, The (1976)"
    assert tiny_data.items[5].title == "Misérables Encore, Les (1988)"
    assert tiny_data.items[1].genres == ("Drama", "Horror")


def test_ties_keep_file_order(tmp_path):
    (tmp_path / "items.csv").write_text("item,title\n1,A\n2,B\n3,C\n")
    (tmp_path / "interactions.csv").write_text("user,item,timestamp\nu,3,5\nu,1,5\nu,2,4\n")
    data = load_dataset("csv", tmp_path)
    # item 2 is earliest; items 3 and 1 tie on timestamp and keep their file order
    assert data.sequences == [[2, 3, 1]]


def test_display_title_keeps_or_adds_year():
    assert display_title("Usual Suspects, The", 1995) == "Usual Suspects, The (1995)"
    assert display_title("Land Before Time III (1995)", None) == "Land Before Time III (1995)"
    assert display_title("Land Before Time III (1995)", 1995) == "Land Before Time III (1995)"
    assert parse_year("V", "Land Before Time III (1995)") == 1995
    assert parse_year("unknown", "unkonwn") is None


def test_leave_one_out_holds_out_last_two(tiny_data):
    split = leave_one_out(tiny_data)
    seq = tiny_data.sequences[0]
    assert split.train[0] == seq[:-2]
    assert split.valid[0] == (seq[:-2], seq[-2])
    assert split.test[0] == (seq[:-1], seq[-1])


def test_windows_split_by_user_without_overlap(tiny_data):
    windows = make_windows(tiny_data, length=5)
    assert all(len(w.items) == 5 for w in windows)
    splits = split_windows_by_user(windows, seed=3)
    users = {name: {w.user for w in ws} for name, ws in splits.items()}
    assert not users["train"] & users["test"] and not users["train"] & users["valid"]
    assert sum(len(ws) for ws in splits.values()) == len(windows)
    assert split_windows_by_user(windows, seed=3) == splits
    assert split_windows_by_user(windows, seed=4) != splits


def test_window_next_item_follows_window(tiny_data):
    w = make_windows(tiny_data, length=4)[0]
    seq = tiny_data.sequences[tiny_data.users.index(w.user)]
    assert list(w.items) == seq[w.start : w.start + 4] and w.next_item == seq[w.start + 4]


def test_card_counts_windows_per_split(tiny_data):
    card = dataset_card(tiny_data, window=10, seed=0)
    assert card["users"] == 30 and card["items"] == 24 and card["interactions"] == 618
    total = sum(card["windows"][s]["windows"] for s in ("train", "valid", "test"))
    assert total == len(make_windows(tiny_data, 10))
    assert len(card["sha256"]) == 64 and set(card["files"]) == {"interactions.csv", "items.csv"}


def test_users_shorter_than_window_is_an_error(tiny_data):
    with pytest.raises(DataError, match="shorter than the window"):
        make_windows(tiny_data, length=40)


def test_unknown_dataset_suggests_close_name():
    with pytest.raises(UnknownNameError, match="did you mean 'ml-100k'"):
        load_dataset("ml-100")


@pytest.mark.slow
def test_real_ml100k_from_recbole_wheel():
    data = load_dataset("ml-100k")
    assert (len(data.users), data.n_items, data.n_interactions) == (943, 1682, 100000)
    assert data.title(12) == "Usual Suspects, The (1995)"
    assert data.items[266].title == "unkonwn"  # MovieLens's own typo, kept
    assert data.items[1411].year == 1995  # its year field is "V"; recovered from the title
    assert all(len(s) >= 20 for s in data.sequences)
    card = dataset_card(data, window=10, seed=0)
    assert (
        card["windows"]["train"]["users"]
        + card["windows"]["test"]["users"]
        + card["windows"]["valid"]["users"]
        == 943
    )


def test_grouplens_folder_layout(tmp_path):
    (tmp_path / "u.data").write_text("1\t1\t5\t100\n1\t2\t3\t200\n1\t3\t4\t300\n")
    flags = "|".join(["0"] * 19)
    genres_sci = "|".join("1" if i == 15 else "0" for i in range(19))
    (tmp_path / "u.item").write_bytes(
        f"1|Mis\xe9rables, Les (1995)|01-Jan-1995||http://x|{flags}\n".encode("latin-1")
        + f"2|Star Wars (1977)|01-Jan-1977||http://x|{genres_sci}\n".encode()
        + f"3|Heat (1995)|01-Jan-1995||http://x|{flags}\n".encode()
    )
    data = load_dataset("ml-100k", tmp_path)
    assert data.title(1) == "Misérables, Les (1995)"
    assert data.items[1].genres == ("Sci-Fi",) and data.sequences == [[1, 2, 3]]


def test_recbole_layout_via_data_dir(tmp_path):
    from recbench.data.movielens import recbole_ml100k_dir

    src = recbole_ml100k_dir()
    for name in ("ml-100k.inter", "ml-100k.item"):
        shutil.copy(src / name, tmp_path / name)
    assert load_dataset("ml-100k", tmp_path).sha256 == load_dataset("ml-100k").sha256
