"""Metrics on which catalogue items (and genres) the output names.

Mentions come from :class:`recbench.metrics.titles.TitleMatcher`: titles in either article order,
with their year, or without it when the title is distinctive or fills a whole line. A mention that
can name several items (a repeated catalogue title, or a year-less title shared by remakes) counts
for each of them.
"""

from __future__ import annotations

from recbench.metrics.base import Metric, MetricContext, Sample
from recbench.metrics.genres import genre_hits


class RecoveredItems(Metric):
    """Number of target items whose title the output names (the paper's "Ave Recover").

    Each window position counts once: a window with an item twice scores 2 when it is named.
    """

    name = "recovered_items"

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        """Count of ``target_items`` positions named in ``output``."""
        out = []
        for s in samples:
            named = ctx.matcher.mentioned(s.output)
            out.append(float(sum(1 for item in s.target_items if item in named)))
        return out


class ItemRecall(Metric):
    """Fraction of target items the output names (recovered_items / number of target items)."""

    name = "item_recall"

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        """Named positions over ``len(target_items)``; empty ``target_items`` is an error."""
        out = []
        for s in samples:
            self.require(s, "target_items")
            named = ctx.matcher.mentioned(s.output)
            out.append(sum(1 for item in s.target_items if item in named) / len(s.target_items))
        return out


class ItemPrecision(Metric):
    """Fraction of the distinct titles the output names that are target items (0 if it names none).

    Titles are distinct by the set of items they can name; one that can name several counts as
    correct when any of them is a target.
    """

    name = "item_precision"

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        """Correct distinct mentions over distinct mentions."""
        out = []
        for s in samples:
            distinct = {frozenset(m.item_ids) for m in ctx.matcher.matches(s.output)}
            if not distinct:
                out.append(0.0)
                continue
            targets = set(s.target_items)
            out.append(sum(1 for ids in distinct if ids & targets) / len(distinct))
        return out


class HitAt1(Metric):
    """1 if the first title the output names is the first target item, else 0.

    The first mention is the earliest in the text (the longest one at that position). A title
    repeated in the catalogue counts for every item that carries it, and an output that is only a
    title counts even for a short title without its year ("Heat").
    """

    name = "hit_at_1"

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        """1.0 / 0.0 per sample."""
        out = []
        for s in samples:
            expected = self._expected(s)
            first = ctx.matcher.first_match(s.output)
            out.append(1.0 if first is not None and expected in first.item_ids else 0.0)
        return out

    def _expected(self, sample: Sample) -> int:
        self.require(sample, "target_items")
        return sample.target_items[0]


class Top1Agreement(HitAt1):
    """1 if the first title the output names is the recommender's own top-1 item, else 0.

    Same matching as hit_at_1, against ``rec_top1``; a sample without ``rec_top1`` is an error.
    """

    name = "top1_agreement"
    needs = ("rec_top1",)  # a task using it declares `inputs: [rec_top1]`

    def _expected(self, sample: Sample) -> int:
        self.require(sample, "rec_top1")
        assert sample.rec_top1 is not None
        return sample.rec_top1


class TrueNextHitAt1(HitAt1):
    """1 if the first title the output names is the window's true next item, else 0.

    Same matching as hit_at_1, against ``next_item``: the secondary column of a task whose target is
    the recommender's own belief (next_item v2); a sample without ``next_item`` is an error.
    """

    name = "true_next_hit_at_1"
    needs = ("next_item",)  # a task using it declares `inputs: [next_item]`

    def _expected(self, sample: Sample) -> int:
        self.require(sample, "next_item")
        assert sample.next_item is not None
        return sample.next_item


class Top10Agreement(Metric):
    """1 if the first title the output names is among the recommender's own top-10 items, else 0.

    Same matching as hit_at_1 (a repeated catalogue title counts for each item carrying it), against
    ``rec_top10``; a sample without ``rec_top10`` is an error.
    """

    name = "top10_agreement"
    needs = ("rec_top10",)  # a task using it declares `inputs: [rec_top10]`

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        """1.0 / 0.0 per sample."""
        out = []
        for s in samples:
            self.require(s, "rec_top10")
            first = ctx.matcher.first_match(s.output)
            out.append(1.0 if first is not None and set(first.item_ids) & set(s.rec_top10) else 0.0)
        return out


class GenreHit(Metric):
    """Fraction of the target genres the output names (whole words, small synonym table).

    "Sci-Fi" is named by "sci-fi", "sci fi", "scifi" or "science fiction"; "Children's" by
    "children", "child", "kids", "kid" or "family"; see :data:`recbench.metrics.genres.GENRE_SYNONYMS`.
    """

    name = "genre_hit"
    needs = ("genres",)  # a task using it declares `inputs: [genres]`

    def per_sample(self, samples: list[Sample], ctx: MetricContext) -> list[float]:
        """Named genres over ``len(target_genres)``; empty ``target_genres`` is an error."""
        out = []
        for s in samples:
            self.require(s, "target_genres")
            hits = genre_hits(s.output, s.target_genres)
            out.append(sum(hits) / len(hits))
        return out
