"""House rules for every notebook pair (see stepstones_lite/notebook_rules.py); nbval executes them
separately."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from stepstones_lite.notebook_rules import check_notebook, write_student_version

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def test_there_are_notebooks():
    assert [p.stem for p in SOURCES][:1] == ["00_welcome"]
    # every .ipynb has its .py source
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == [p.stem for p in SOURCES]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_follows_house_rules(source):
    assert check_notebook(source) == []


@pytest.fixture()
def broken_copy(tmp_path):
    src = SOURCES[0]
    shutil.copy(src, tmp_path / src.name)
    shutil.copy(src.with_suffix(".ipynb"), tmp_path / src.with_suffix(".ipynb").name)
    return tmp_path / src.name


def test_checker_catches_outputs(broken_copy):
    ipynb = broken_copy.with_suffix(".ipynb")
    nb = json.loads(ipynb.read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
    code["execution_count"] = 1
    ipynb.write_text(json.dumps(nb))
    assert any("has outputs" in p for p in check_notebook(broken_copy))


def test_checker_catches_drift_cuda_and_pip(broken_copy):
    text = broken_copy.read_text()
    assert "import stepstones_lite\n" in text
    text = text.replace(
        "import stepstones_lite\n", "import stepstones_lite\nx = y.cuda()\n!pip install foo\n", 1
    )
    broken_copy.write_text(text)
    problems = check_notebook(broken_copy)
    assert any("out of sync" in p for p in problems)
    assert any("hard-coded CUDA call" in p for p in problems)
    assert any("pip install" in p for p in problems)


def test_checker_catches_bad_parameters(broken_copy):
    text = broken_copy.read_text().replace('profile: str = "auto"', 'profile: str = "smoke"')
    text = text.replace("seed: int = 0", "seed = 0")
    broken_copy.write_text(text)
    problems = check_notebook(broken_copy)
    assert any('profile: str = "auto"' in p for p in problems)
    assert any("non-annotated" in p for p in problems)


def test_checker_catches_a_figure_without_its_reading_line(broken_copy):
    text = broken_copy.read_text()
    assert "What you should see:" in text
    broken_copy.write_text(text.replace("What you should see:", "What you see:"))
    assert any("draws a figure without" in p for p in check_notebook(broken_copy))


def test_checker_catches_missing_sections(broken_copy):
    text = (
        broken_copy.read_text()
        .replace("## Summary", "## Wrap-up")
        .replace("## What you will learn", "## Aims")
    )
    broken_copy.write_text(text)
    problems = check_notebook(broken_copy)
    assert any("'Summary'" in p for p in problems)
    assert any("What you will learn" in p for p in problems)


def test_student_version_drops_solutions_and_leaves_answer_cells(tmp_path):
    import nbformat

    for source in SOURCES:
        out = write_student_version(source, tmp_path)
        nb = nbformat.read(out, as_version=4)
        assert all("solution" not in c.metadata.get("tags", []) for c in nb.cells)
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
        assert not any("### BEGIN SOLUTION" in c.source for c in nb.cells)
        check = next(i for i, c in enumerate(nb.cells) if "Check your understanding" in c.source)
        n_questions = len(re.findall(r"^\d+\. ", nb.cells[check].source, re.M))
        answers = nb.cells[check + 1 : check + 1 + n_questions]
        assert n_questions >= 3 and all("answer" in c.metadata.get("tags", []) for c in answers), source.name


def test_student_version_blanks_solution_blocks_and_keeps_the_check(tmp_path):
    import nbformat

    src = tmp_path / "99_task.py"
    src.write_text(
        "# %% [markdown]\n# # T\n\n# %%\nx = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION\n"
        "assert x == 2\n\n# %% [markdown]\n# ## Check your understanding\n#\n# 1. Why?\n# 2. How?\n"
    )
    nb = nbformat.read(write_student_version(src, tmp_path / "out"), as_version=4)
    code = nb.cells[1].source
    assert "x = 2" not in code and "raise NotImplementedError" not in code
    assert code.splitlines() == [
        "x = 1",
        "# YOUR CODE HERE: set x",
        "x = None",
        "if any(answer is None for answer in (x,)):",
        '    print("not done yet: set x above, then run this cell again")',
        "else:",
        "    assert x == 2",
    ]
    assert [c.source.splitlines()[0] for c in nb.cells[3:]] == [
        "**Your answer to question 1:**",
        "**Your answer to question 2:**",
    ]


def test_checker_rejects_annotations_papermill_cannot_read(broken_copy):
    text = broken_copy.read_text().replace(
        'data_root: "Optional[str]" = None', "data_root: str | None = None"
    )
    broken_copy.write_text(text)
    assert any("papermill cannot read" in p for p in check_notebook(broken_copy))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_papermill_lists_the_documented_parameters(source):
    import papermill

    params = papermill.inspect_notebook(str(source.with_suffix(".ipynb")))  # what --help-notebook prints
    assert {"profile", "device", "seed", "data_root", "artifacts_dir"} <= set(params)
    assert params["profile"]["default"] == '"auto"' and params["seed"]["inferred_type_name"] == "int"
    assert all(p["help"] for p in params.values()), "every parameter has a comment papermill shows as help"


def test_papermill_rerun_with_parameters(tmp_path):
    """`papermill 00_welcome.ipynb out.ipynb -p profile classroom -p seed 1`: the injected values are the ones
    used (the test session's environment says smoke, so only the injected parameter can print classroom)."""
    import papermill

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "00_welcome.ipynb"),
        str(out),
        cwd=str(NOTEBOOKS),
        parameters={"profile": "classroom", "seed": 1, "artifacts_dir": str(tmp_path / "a")},
        kernel_name="python3",
        progress_bar=False,
    )
    nb = json.loads(out.read_text())
    injected = next(c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    assert "seed = 1" in "".join(injected["source"])
    printed = "".join(
        t
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        for t in o.get("text", [])
    )
    assert "profile: classroom" in printed


@pytest.mark.parametrize("source", [s for s in SOURCES if s.stem != "00_welcome"], ids=lambda p: p.stem)
def test_every_working_notebook_has_a_checked_change_x_task(source):
    """Notebooks 01-06 each hold a "Your turn (change X, expect Y)" task: a solution block the student version
    blanks, announced in the markdown cell before it, with an ``assert`` after it that checks the answer."""
    import jupytext

    cells = jupytext.read(source).cells
    tasks = [i for i, c in enumerate(cells) if c.cell_type == "code" and "### BEGIN SOLUTION" in c.source]
    assert tasks, f"{source.name}: no change-X task"
    for i in tasks:
        after = cells[i].source.split("### END SOLUTION", 1)[1]
        assert re.search(r"^\s*assert ", after, re.M), f"{source.name} cell {i}: the task checks nothing"
        assert "Your turn" in cells[i - 1].source, f"{source.name} cell {i}: the task is not announced"


def test_quoted_notebook_times_are_the_measured_ones(project_script):
    """The README's course map, the note under it and every notebook's header line quote the seconds that
    ``benchmarks/time_notebooks.py`` measured (``benchmarks/notebook_times.json``), for both profiles."""
    import copy

    tn = project_script("benchmarks/time_notebooks.py")
    times = json.loads(tn.TIMES.read_text())
    assert set(tn.PROFILES) <= set(times)
    for p in tn.PROFILES:  # every notebook measured in every profile
        assert {s.stem for s in SOURCES} <= set(times[p]["seconds"]), p
    readme = (NOTEBOOKS.parent / "README.md").read_text()
    assert tn.readme_note(times) in readme
    rows = [line for line in readme.split("\n") if re.match(r"\| `\d\d_\w+` \|", line)]
    assert [re.match(r"\| `(\d\d_\w+)` \|", r)[1] for r in rows] == [s.stem for s in SOURCES]
    for row in rows:
        assert tn.readme_row(row, times) == row, row
    for source in SOURCES:
        assert tn.header_line(times, source.stem) in source.read_text(), source.name
    # the check can fail: one notebook a minute slower changes its row, its header and the note
    slower = copy.deepcopy(times)
    slower["classroom"]["seconds"][SOURCES[2].stem] += 60.0
    slower["classroom"]["total_seconds"] += 60.0
    assert tn.readme_row(rows[2], slower) != rows[2]
    assert tn.header_line(slower, SOURCES[2].stem) not in SOURCES[2].read_text()
    assert tn.readme_note(slower) not in readme


def test_student_copies_run_top_to_bottom(tmp_path):
    """`make student` copies, exercises left blank, run to the end (smoke): each task prints "not done
    yet"."""
    import papermill

    from stepstones_lite.notebook_rules import write_student_version

    not_done = 0
    for source in SOURCES:
        student = write_student_version(source, tmp_path / "student")
        out = tmp_path / "executed" / student.name
        out.parent.mkdir(exist_ok=True)
        papermill.execute_notebook(
            str(student),
            str(out),
            cwd=str(NOTEBOOKS),
            kernel_name="python3",
            language="python",
            progress_bar=False,
        )  # the session's smoke artifacts
        printed = "".join(
            t
            for c in json.loads(out.read_text())["cells"]
            if c["cell_type"] == "code"
            for o in c.get("outputs", [])
            for t in o.get("text", [])
        )
        not_done += printed.count("not done yet")
    assert not_done >= 6  # the six "change X, expect Y" tasks of 01-06
