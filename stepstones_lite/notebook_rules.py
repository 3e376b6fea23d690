"""Notebook house rules as code: the course's cell skeleton, pairing and hygiene checks, student copies.

The percent-format ``notebooks/NN_name.py`` is the source; ``NN_name.ipynb`` is its stripped pair.
:func:`check_notebook` returns every rule a notebook breaks (an empty list means it is fine); the test
suite runs it over all notebooks. :func:`write_student_version` writes the exercise copy (solutions out,
answer cells in). Needs ``jupytext``/``nbformat`` (the ``dev`` extra), imported lazily.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

__all__ = ["check_notebook", "write_student_version", "notebook_sources", "REQUIRED_PARAMETERS"]

# every parameters cell must declare these with these annotations (papermill --help-notebook reads them)
REQUIRED_PARAMETERS = {"profile": "str", "device": "str", "seed": "int"}
_FORBIDDEN = [
    (re.compile(r"\.cuda\(\)"), "hard-coded CUDA call (use stepstones_lite.resolve_device)"),
    (re.compile(r"['\"]cuda:0['\"]"), "hard-coded CUDA device index (use stepstones_lite.resolve_device)"),
    (
        re.compile(r"\bpip\s+install\b"),
        "pip install inside a notebook (dependencies belong in pyproject.toml)",
    ),
]


def _read(path: Path) -> Any:
    import jupytext

    return jupytext.read(path)


def notebook_sources(notebook: Any) -> list[tuple[str, str]]:
    """(cell_type, stripped source) pairs, the part of a notebook that must agree between the pair."""
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def _headings(cell: Any) -> list[str]:
    return [line.lstrip("#").strip().lower() for line in cell.source.splitlines() if line.startswith("#")]


def _parameters_problems(cell: Any) -> list[str]:
    problems = []
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as err:
        return [f"parameters cell does not parse: {err}"]
    declared = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared[node.target.id] = (ast.unparse(node.annotation), node.value)
            if isinstance(node.annotation, ast.BinOp):
                problems.append(
                    f"parameter {node.target.id!r}: papermill cannot read the annotation "
                    f'{ast.unparse(node.annotation)!r}; write it quoted, e.g. "Optional[str]"'
                )
            if node.value is None or not _is_literal(node.value):
                problems.append(
                    f"parameter {node.target.id!r} must have a literal default (papermill cannot "
                    f"recompute derived values)"
                )
        else:
            problems.append(f"parameters cell holds a non-annotated statement: {ast.unparse(node)[:60]!r}")
    for name, annotation in REQUIRED_PARAMETERS.items():
        if name not in declared:
            problems.append(f"parameters cell lacks {name}: {annotation}")
        elif declared[name][0] != annotation:
            problems.append(f"parameter {name} should be annotated {annotation}, not {declared[name][0]}")
    if "profile" in declared and not (
        isinstance(declared["profile"][1], ast.Constant) and declared["profile"][1].value == "auto"
    ):
        problems.append('parameters cell must read profile: str = "auto"')
    return problems


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except ValueError:
        return False


def check_notebook(py_path: str | Path) -> list[str]:
    """Every house rule the notebook pair ``py_path`` / ``.ipynb`` breaks (empty list: all good)."""
    py_path = Path(py_path)
    ipynb_path = py_path.with_suffix(".ipynb")
    name = py_path.name
    problems: list[str] = []
    if not ipynb_path.is_file():
        return [f"{name}: paired {ipynb_path.name} is missing (run: jupytext --sync {py_path})"]
    source_nb = _read(py_path)
    raw = json.loads(ipynb_path.read_text(encoding="utf-8"))
    for index, cell in enumerate(raw.get("cells", [])):
        if cell.get("outputs") or cell.get("execution_count"):
            problems.append(f"{ipynb_path.name}: cell {index} has outputs (commit notebooks stripped)")
    if notebook_sources(_read(ipynb_path)) != notebook_sources(source_nb):
        problems.append(f"{name}: .py and .ipynb are out of sync (run: jupytext --sync {py_path})")

    cells = source_nb.cells
    if not cells or cells[0].cell_type != "markdown" or not cells[0].source.lstrip().startswith("# "):
        problems.append(f"{name}: the first cell must be a markdown H1 title")
    params = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1:
        problems.append(f"{name}: needs exactly one cell tagged 'parameters' (found {len(params)})")
    else:
        problems += [f"{name}: {p}" for p in _parameters_problems(cells[params[0]])]
    headings = [(i, h) for i, c in enumerate(cells) if c.cell_type == "markdown" for h in _headings(c)]

    def first(prefix: str) -> int | None:
        return next((i for i, h in headings if h.startswith(prefix)), None)

    learn, check, summary = first("what you will learn"), first("check your understanding"), first("summary")
    if learn is None or (params and learn > params[0]):
        problems.append(f"{name}: a 'What you will learn' section must come before the parameters cell")
    if check is None:
        problems.append(f"{name}: a 'Check your understanding' section is missing")
    if summary is None:
        problems.append(f"{name}: a 'Summary' section is missing")
    elif check is not None and summary < check:
        problems.append(f"{name}: 'Summary' must come after 'Check your understanding'")
    if summary is not None and any(c.cell_type == "code" for c in cells[summary + 1 :]):
        problems.append(f"{name}: no code cells after the summary")
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        for pattern, message in _FORBIDDEN:
            if pattern.search(cell.source):
                problems.append(f"{name}: cell {index}: {message}")
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("#"))
        if _FIGURE.search(code) and not _explained(cells, index):
            problems.append(
                f"{name}: cell {index} draws a figure without a '{WHAT_YOU_SEE}' line in the "
                "markdown cell right before or after it"
            )
    return problems


WHAT_YOU_SEE = "What you should see:"  # the one-line reading guide beside every figure (issue #18)
_FIGURE = re.compile(r"\bsave_figure\(|\bplt\.show\(\)")


def _explained(cells: list, index: int) -> bool:
    """Whether the markdown cell just before or just after code cell ``index`` says what its figure shows."""
    near = [cells[i] for i in (index - 1, index + 1) if 0 <= i < len(cells)]
    return any(c.cell_type == "markdown" and WHAT_YOU_SEE in c.source for c in near)


SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"  # nbgrader's markers
_QUESTION = re.compile(r"^#?\s*(\d+)\.\s", re.M)


def _questions(cell: Any) -> list[str]:
    """The numbers of the questions listed in a "Check your understanding" cell (``1. ...`` lines)."""
    return _QUESTION.findall(cell.source)


def _assigned(lines: list[str]) -> list[str]:
    """Names a block of code assigns at its own level (``x = ...``, ``a, b = ...``), in order."""
    import textwrap

    names: list[str] = []
    for node in ast.parse(textwrap.dedent("\n".join(lines))).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, (ast.AnnAssign, ast.AugAssign))
            else []
        )
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and sub.id not in names:
                    names.append(sub.id)
    return names


def _strip_solution_blocks(source: str) -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block by a placeholder the student fills.

    The answer names the block assigns and the rest of the cell reads start as ``None``; the rest of the cell
    (at the block's indent) runs only once they are set, and otherwise prints "not done yet", so Run All
    reaches the end of a student copy.
    """
    lines = source.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != SOLUTION_BEGIN:
            out.append(lines[i])
            i += 1
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == SOLUTION_END), None)
        if end is None:
            raise ValueError(f"{SOLUTION_BEGIN!r} without {SOLUTION_END!r}")
        stop = next(
            (
                j
                for j in range(end + 1, len(lines))
                if lines[j].strip() and len(lines[j]) - len(lines[j].lstrip()) < len(indent)
            ),
            len(lines),
        )
        rest = lines[end + 1 : stop]
        used = "\n".join(rest)
        answers = [n for n in _assigned(lines[i + 1 : end]) if re.search(rf"\b{re.escape(n)}\b", used)]
        listed = ", ".join(answers)
        out.append(f"{indent}# YOUR CODE HERE: set {listed}")
        out += [f"{indent}{name} = None" for name in answers]
        if rest and answers:
            out.append(f"{indent}if any(answer is None for answer in ({listed},)):")
            out.append(f'{indent}    print("not done yet: set {listed} above, then run this cell again")')
            out.append(f"{indent}else:")
            out += [f"    {line}" if line.strip() else line for line in rest]
        else:
            out += rest
        i = stop
    return "\n".join(out)


def write_student_version(py_path: str | Path, out_dir: str | Path) -> Path:
    """Write ``out_dir/<name>.ipynb``, the exercise copy of a notebook.

    Cells tagged ``solution`` are dropped; under the "Check your understanding" cell every question gets an
    empty markdown answer cell; in code cells (the "change X, expect Y" tasks) each ``### BEGIN SOLUTION`` ...
    ``### END SOLUTION`` block becomes the answer names set to ``None`` for the student to fill, and the
    task's check (the rest of the cell) runs once they are set; until then it prints "not done yet", so "Run
    All" in a student copy runs to the end.
    """
    import jupytext
    import nbformat

    notebook = _read(Path(py_path))
    cells = []
    for cell in notebook.cells:
        if "solution" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "code" and SOLUTION_BEGIN in cell.source:
            cell.source = _strip_solution_blocks(cell.source)
        cells.append(cell)
        if cell.cell_type == "markdown" and "check your understanding" in _headings(cell):
            for number in _questions(cell):
                cells.append(
                    nbformat.v4.new_markdown_cell(
                        f"**Your answer to question {number}:**\n\n...", metadata={"tags": ["answer"]}
                    )
                )
    notebook.cells = cells
    out = Path(out_dir) / (Path(py_path).stem + ".ipynb")
    out.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(notebook, out, fmt="ipynb")
    return out
