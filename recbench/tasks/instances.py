"""Turn windows into task instances: prompt, target text, target items, latent sources."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from recbench.data.base import SequenceData
from recbench.data.splits import Window
from recbench.errors import ConfigError
from recbench.metrics.base import RoundTrip, Sample
from recbench.metrics.taste import taste_fields
from recbench.tasks.spec import TaskSpec


@dataclass
class Instance:
    """One prompt for the interpreter. ``latents`` (one ``[L, d]`` tensor per slot) are filled by the runner."""

    id: str
    task: str
    window: Window
    prompt: str
    target: str
    sources: tuple[str, ...]  # which sequence feeds each <rec_emb> slot
    target_items: list[int]
    target_genres: list[str] = field(default_factory=list)
    rec_top1: int | None = None
    rec_top10: list[int] = field(default_factory=list)
    next_item: int | None = None
    latents: list = field(default_factory=list)
    version: int = 1  # the task's version (its definition: load_task(task, version))

    def sequence(self, source: str) -> tuple[int, ...]:
        """The item ids a latent source encodes."""
        return self.window.items[:-1] if source == "window_minus_last" else self.window.items


def describe_window(items: tuple[int, ...], data: SequenceData) -> tuple[str, list[str]]:
    """A reference description from metadata: main genres, era, two example titles."""
    counts = Counter(g for i in items for g in data.items[i - 1].genres if g != "unknown")
    # most common first; ties broken by name so the text is deterministic
    genres = [g for g, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:2]]
    years = sorted(data.items[i - 1].year for i in items if data.items[i - 1].year)
    era = f"the {years[len(years) // 2] // 10 * 10}s" if years else "many eras"
    examples = [data.title(i) for i in items if not genres or genres[0] in data.items[i - 1].genres][:2]
    taste = " and ".join(genres) if genres else "all kinds of"
    text = f"{taste} films from {era}, such as {' and '.join(examples)}."
    return text, genres


def _document(window: Window, data: SequenceData, top1: int | None) -> tuple[dict[str, str], list[str]]:
    description, genres = describe_window(window.items, data)
    doc = {
        "titles": ", ".join(data.title(i) for i in window.items),
        "last_title": data.title(window.items[-1]),
        "next_title": data.title(window.next_item),
        "description": description,
        **taste_fields(window.items, data),  # main_genres, era: from item metadata only
        "rec_top1_title": "" if top1 is None else data.title(top1),
    }
    return doc, genres


def targets_recommender(spec: TaskSpec) -> bool:
    """Whether the task's target is the recommender's own top-1 (so building it needs ``rec_top1``)."""
    return spec.target_items == "rec_top1" or "rec_top1_title" in spec.doc_to_target


def build_instances(
    spec: TaskSpec, windows: list[Window], data: SequenceData, provided: dict[str, dict] | None = None
) -> list[Instance]:
    """One instance per window, carrying the inputs its task declares.

    ``provided`` holds the inputs the runner computed from the recommender, by input name and window
    id (``{"rec_top1": {window_id: item}, "rec_top10": {window_id: [items]}}``); the rest (``genres``,
    ``next_item``) come from the window and ``data``. A task whose target is the recommender's top-1
    (``target_items: rec_top1``, ``{{rec_top1_title}}``) needs it for every window.
    """
    provided = provided or {}
    top1 = provided.get("rec_top1", {}) if "rec_top1" in spec.inputs else {}
    top10 = provided.get("rec_top10", {}) if "rec_top10" in spec.inputs else {}
    needs_top1 = targets_recommender(spec)
    out = []
    for w in windows:
        if needs_top1 and w.id not in top1:
            raise ConfigError(
                f"task {spec.name}: its target is the recommender's top-1, not given for {w.id}"
            )
        doc, genres = _document(w, data, top1.get(w.id))
        targets = {
            "window": list(w.items),
            "last": [w.items[-1]],
            "next": [w.next_item],
            "rec_top1": [top1.get(w.id)],
        }[spec.target_items]
        out.append(
            Instance(
                id=f"{spec.name}:{w.id}",
                task=spec.name,
                version=spec.version,
                window=w,
                prompt=spec.render(spec.doc_to_text, doc),
                target=spec.render(spec.doc_to_target, doc).strip(),
                sources=spec.doc_to_latents,
                target_items=targets,
                target_genres=genres if "genres" in spec.inputs else [],
                rec_top1=top1.get(w.id),
                rec_top10=list(top10.get(w.id, [])),
                next_item=w.next_item if "next_item" in spec.inputs else None,
            )
        )
    return out


def sample_of(inst: Instance, output: str, roundtrip: RoundTrip | None = None) -> Sample:
    """The scored form of an instance and the interpreter's output for it (and its round trip)."""
    return Sample(
        id=inst.id,
        task=inst.task,
        prompt=inst.prompt,
        target=inst.target,
        output=output,
        target_items=list(inst.target_items),
        rec_top1=inst.rec_top1,
        target_genres=list(inst.target_genres),
        rec_top10=list(inst.rec_top10),
        next_item=inst.next_item,
        roundtrip=roundtrip,
    )
