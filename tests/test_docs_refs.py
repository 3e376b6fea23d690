"""Every markdown file the repository names (``<name>.md``, ``docs/<name>.md``) exists in the repository.

Scans the tracked ``*.py``, ``*.md`` and ``*.toml`` files (``git ls-files``). A name resolves relative to the
repository root, the referencing file's folder, ``docs/`` or ``results/`` (the study's tables). Names built
from templates (``{stem}_classroom.md``, ``reproduce_<p>.md``, ``*.md``) are skipped, and ``LICENSES.md`` is
the file the generator writes into every synthetic data set, not a repository file. Pure Python, no torch.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEARCH_DIRS = ("", "docs", "results")
GENERATED = {"LICENSES.md"}  # written into each generated data set (data/synthetic/generator.py)
# a name: word characters, dots, slashes and dashes ending in .md, not glued to a template or a longer path
MD_NAME = re.compile(r"(?<![\w./{}<>*-])(\w[\w./-]*\.md)\b(?![\w{}<>*-])")


def tracked_text_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.toml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if line]


def md_references(text: str) -> set[str]:
    """The markdown file names ``text`` mentions."""
    return {m.group(1).rstrip(".") for m in MD_NAME.finditer(text)}


def resolves(name: str, referrer: str, root: Path = ROOT) -> bool:
    """``name`` exists relative to the root, the referring file's folder, ``docs/`` or ``results/``."""
    if Path(name).name in GENERATED:
        return True
    bases = [root / d for d in SEARCH_DIRS] + [(root / referrer).parent]
    return any((base / name).is_file() for base in bases)


def missing_references(files: list[str], root: Path = ROOT) -> list[str]:
    missing = []
    for rel in files:
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        missing += [f"{rel}: {name}" for name in sorted(md_references(text)) if not resolves(name, rel, root)]
    return missing


def test_every_referenced_markdown_file_exists():
    files = tracked_text_files()
    assert files, "git ls-files found nothing"
    assert not missing_references(files), (
        "references to markdown files the repository does not hold:\n" + "\n".join(missing_references(files))
    )


def test_the_docs_exist_and_are_referenced():
    refs = set()
    for rel in tracked_text_files():
        if not rel.startswith("docs/"):
            refs |= md_references((ROOT / rel).read_text(encoding="utf-8"))
    for name in ("paper_and_code", "data_sources", "avsbench", "feasibility"):
        assert (ROOT / "docs" / f"{name}.md").is_file()
        assert f"docs/{name}.md" in refs, name


def test_the_scanner_flags_a_made_up_reference(tmp_path):
    # names built from parts, so that this file itself holds no reference to them
    real, made_up = "real_note" + ".md", "no_such_design_note" + ".md"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / real).write_text("# real\n")
    (tmp_path / "mod.py").write_text(
        f'"""See docs/{real} §2, {real}, {made_up} §1.4 and docs/{made_up}."""\n'
        '# templates are skipped: {stem}_classroom.md, reproduce_<p>.md, *.md, out.with_suffix(".md")\n'
    )
    assert md_references((tmp_path / "mod.py").read_text()) == {
        f"docs/{real}",
        real,
        made_up,
        f"docs/{made_up}",
    }
    assert missing_references(["mod.py"], tmp_path) == [f"mod.py: docs/{made_up}", f"mod.py: {made_up}"]
