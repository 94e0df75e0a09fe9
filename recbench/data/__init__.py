"""Datasets: item catalogues with titles and chronological user sequences."""

from recbench.data.base import Item, SequenceData, load_dataset
from recbench.data.splits import LeaveOneOut, Window, leave_one_out, make_windows, split_windows_by_user

__all__ = [
    "Item",
    "LeaveOneOut",
    "SequenceData",
    "Window",
    "leave_one_out",
    "load_dataset",
    "make_windows",
    "split_windows_by_user",
]
