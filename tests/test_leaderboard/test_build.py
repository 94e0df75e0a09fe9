"""`recbench leaderboard build`: tables, baselines, gaps, run pages, escaping, relative links, determinism."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from recbench.cli import app
from recbench.errors import ConfigError
from recbench.leaderboard.site import build_site
from recbench.tasks import load_task

runner = CliRunner()
XSS = "<script>alert(1)</script>"


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of every <script>."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def parse(path: Path) -> Tags:
    tags = Tags()
    tags.feed(path.read_text(encoding="utf-8"))
    return tags


@pytest.fixture
def site(tmp_path, submissions, make):
    make(submissions / "script-alert-1-script" / "run-xss", "run-xss", label=XSS, n=8, quality=0.7)
    out = tmp_path / "site"
    result = runner.invoke(
        app, ["leaderboard", "build", "--submissions", str(submissions), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"built {out / 'index.html'}: 4 runs, 4 tables, 4 run pages\n"
    return out


def test_index_has_one_table_per_dataset_and_task(site):
    html = (site / "index.html").read_text()
    for task in ("description", "next_item", "residual_id", "seq_recovery"):
        version = load_task(task).version  # the synthetic runs ran each task's latest version
        assert f"<h2>csv · {task} <small>task v{version}</small></h2>" in html
    assert html.count('<table class="sortable board">') == 4
    assert html.count('<svg class="chart"') == 4


def test_baselines_are_in_every_table_and_marked(site):
    html = (site / "index.html").read_text()
    rows = re.findall(
        r'<tr class="baseline">\s*<td class="who" data-sort="popular"><a href="runs/run-pop.html">popular</a> '
        r'<span class="badge">baseline</span>',
        html,
    )
    assert len(rows) == 4


def test_gap_column_beside_llm_rows_only(site):
    html = (site / "index.html").read_text()
    assert html.count(">gap vs shuffled</th>") == 4
    seq = html[html.index('id="t-csv-') :]
    seq = seq[: seq.index("</table>")]
    llm_rows = re.findall(r'<tr class="llm">.*?</tr>', seq, re.S)
    baseline_row = re.search(r'<tr class="baseline">.*?</tr>', seq, re.S).group(0)
    assert len(llm_rows) == 3
    assert all(
        re.search(r'<td class="num (pos|neg|zero)" data-sort="[-0-9.e]+" title="real minus shuffled', r)
        for r in llm_rows
    )
    assert (
        baseline_row.rstrip("</tr>")
        .rstrip()
        .endswith('title="no shuffled control: this interpreter reads no recommender vectors">—</td>')
    )


def test_rows_are_best_first_on_the_main_metric(site, submissions):
    html = (site / "index.html").read_text()
    table = html[html.index("<h2>csv · seq_recovery") :]
    order = re.findall(r'<a href="runs/([^"]+)\.html">', table[: table.index("</table>")])
    main = {}
    for folder in submissions.glob("*/*"):
        data = json.loads((folder / "results.json").read_text())
        main[data["run_id"]] = data["tasks"]["seq_recovery"]["metrics"]["recovered_items"]["value"]
    assert order == sorted(main, key=lambda r: (-main[r], r))


def test_run_page_has_samples_provenance_and_command(site, submissions):
    page = (site / "runs" / "run-zeta.html").read_text()
    results = json.loads((submissions / "zeta-mlp" / "run-zeta" / "results.json").read_text())
    rows = [
        json.loads(line)
        for line in (submissions / "zeta-mlp" / "run-zeta" / "samples.jsonl").read_text().splitlines()
    ]
    assert f"<pre><code>{results['command']}</code></pre>" in page
    quoted = next(r for r in rows if "&" in r["target"] and r["condition"] == "real")  # "Salt & Pepper"
    shown = {r["task"] for r in rows if r["condition"] == "real"}
    assert quoted["task"] in shown
    first = next(r for r in rows if r["task"] == quoted["task"] and r["condition"] == "real")
    assert f'<td class="text">{escape(first["target"])}</td>' in page  # an ampersand, escaped
    assert f'<td class="text">{escape(first["output"])}</td>' in page
    for text in (
        "dataset sha256",
        results["dataset"]["sha256"],
        "recommender checkpoint sha256",
        "c" * 64,
        "recommender test HR@10</dt><dd>0.250",
        "hardware: device",
        "time: total",
        "created",
    ):
        assert text in page
    assert page.count("<h3>Samples") == 4
    assert '<a href="../index.html">' in page


def test_free_text_is_escaped_and_runs_nothing(site):
    for page in [site / "index.html", *sorted((site / "runs").iterdir())]:
        text = page.read_text()
        assert XSS not in text
        tags = parse(page)
        assert [t for t, _ in tags.tags].count("script") == 1  # only the sorter
        assert "alert" not in "".join(tags.scripts)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (site / "index.html").read_text()
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt; <span" in (site / "runs" / "run-xss.html").read_text()


def test_only_the_sorter_may_run_per_content_security_policy(site):
    tags = parse(site / "index.html")
    csp = next(
        a["content"] for t, a in tags.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )
    digest = base64.b64encode(hashlib.sha256(tags.scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp


def test_links_are_relative_and_resolve_and_nothing_is_fetched(site):
    pages = [site / "index.html", *sorted((site / "runs").iterdir())]
    for page in pages:
        assert not re.search(r"https?://", page.read_text())
        for tag, attrs in parse(page).tags:
            assert "src" not in attrs, (page, tag, attrs)
            assert not (tag == "link" and attrs.get("rel") != "icon"), (page, attrs)
            href = attrs.get("href")
            if href is None:
                continue
            assert not re.match(r"^([a-z]+:|/)", href), (page, href)
            target, _, anchor = href.partition("#")
            resolved = (page.parent / target).resolve() if target else page
            assert resolved.is_file(), (page, href)
            if anchor:
                assert f'id="{anchor}"' in resolved.read_text(), (page, href)


def test_same_inputs_give_the_same_bytes(site, submissions, tmp_path):
    again = tmp_path / "again"
    build_site(submissions, again)
    files = sorted(p.relative_to(site) for p in site.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((site / f).read_bytes() == (again / f).read_bytes() for f in files)


def test_rebuild_replaces_the_site_but_not_another_folder(site, submissions, tmp_path):
    (site / "runs" / "stale.html").write_text("old")
    build_site(submissions, site)
    assert not (site / "runs" / "stale.html").exists()
    other = tmp_path / "docs"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not a leaderboard site"):
        build_site(submissions, other)
    assert (other / "keep.txt").read_text() == "mine"


def test_invalid_submission_stops_the_build_with_one_line(submissions, tmp_path):
    path = submissions / "popular" / "run-pop" / "results.json"
    data = json.loads(path.read_text())
    del data["interpreter"]["kind"]
    path.write_text(json.dumps(data))
    result = runner.invoke(
        app, ["leaderboard", "build", "--submissions", str(submissions), "--out", str(tmp_path / "s")]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: interpreter.kind: missing field (run `recbench leaderboard validate`)\n"
    )


def test_gaps_that_round_to_zero_are_neutral_and_never_negative_zero():
    from recbench.leaderboard.site import num, sign_class, signed

    assert (signed(0.0), signed(-0.0), signed(0.0004), signed(-0.0004)) == ("0.000",) * 4
    assert sign_class("0.000") == "zero" and sign_class("+0.001") == "pos" and sign_class("-0.001") == "neg"
    assert (num(-0.0), num(-0.0004), num(0.5)) == ("0.000", "0.000", "0.500")


def test_a_zero_gap_is_shown_neutral(submissions, tmp_path):
    path = submissions / "alpha-linear" / "run-alpha" / "results.json"
    data = json.loads(path.read_text())
    data["tasks"]["seq_recovery"]["gap"]["recovered_items"] = -0.0  # the build does not re-score
    path.write_text(json.dumps(data))
    html = build_site(submissions, tmp_path / "s").index.read_text()
    assert re.search(
        r'<td class="num zero" data-sort="-0.0" title="real minus shuffled recovered_items[^"]*">0.000</td>',
        html,
    )


def test_baselines_that_use_an_llm_are_labelled_so(submissions, tmp_path):
    path = submissions / "popular" / "run-pop" / "results.json"
    data = json.loads(path.read_text())
    data["interpreter"]["llm"] = "smollm2-135m"  # as text_history records it
    path.write_text(json.dumps(data))
    html = build_site(submissions, tmp_path / "s").index.read_text()
    tables = html[html.index("<section") :]
    assert tables.count('<span class="badge llmbase">LLM baseline</span>') == 4
    assert "popular · sasrec (LLM baseline)" in html
    page = (tmp_path / "s" / "runs" / "run-pop.html").read_text()
    assert '<span class="badge baseline llmbase">LLM baseline</span>' in page


def test_rows_with_unusual_settings_are_marked_visibly(submissions, make, tmp_path):
    make(submissions / "few" / "run-few", "run-few", label="few", n=4)
    html = build_site(submissions, tmp_path / "s").index.read_text()
    table = html[html.index("<h2>csv · seq_recovery") :]
    table = table[: table.index("</table>")]
    assert "usual settings: n = 8" in table
    row = re.search(r'<tr class="llm unusual">.*?</tr>', table, re.S).group(0)
    assert (
        'href="runs/run-few.html"' in row
        and '<span class="differs" title="' in row
        and ">n = 4</span>" in row
    )
    assert table.count("unusual") == 1


def test_empty_submissions_build_an_empty_site(tmp_path):
    (tmp_path / "subs").mkdir()
    report = build_site(tmp_path / "subs", tmp_path / "site")
    assert report.runs == 0 and "No submissions yet." in report.index.read_text()
