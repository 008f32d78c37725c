"""The docs stay true: every relative link of README.md and docs/*.md reaches a file (and heading), the
module map of docs/developing.md names every module, and its "Add a page", "Add a setting" and "Add a
dataset kind" steps,
carried out as written on a scratch copy of the repo, pass the checks they name (and fail when a step is
left out)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = REPO / "docs"
DEVELOPING = DOCS / "developing.md"
PACKAGE = REPO / "src" / "dashboard"


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def without_fences(text: str) -> str:
    return re.sub(r"^ *```.*?^ *```", "", text, flags=re.M | re.S)


def without_code(text: str) -> str:
    """Markdown with fenced blocks and inline code removed (links inside them are not links)."""
    return re.sub(r"`[^`\n]*`", "", without_fences(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in without_fences(path.read_text()).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            name, n = base, 0
            while name in found:  # repeated headings get -1, -2, ...
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def relative_links(path: Path) -> list[str]:
    links = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", without_code(path.read_text()))
    return [link for link in links if not re.match(r"^[a-z][a-z0-9+.-]*:", link)]  # http:, mailto:, ...


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(doc):
    broken = []
    for link in relative_links(doc):
        target, _, fragment = link.partition("#")
        file = (doc.parent / target).resolve() if target else doc
        if not file.exists():
            broken.append(f"{link}: no file {file}")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{link}: no heading #{fragment} in {file.name}")
    assert not broken, f"{doc.name}: " + "; ".join(broken)


def test_readme_is_short_and_links_every_docs_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150, "the README stays short: move detail to docs/"
    for page in DOCS.glob("*.md"):
        assert f"docs/{page.name}" in readme, f"README does not point at docs/{page.name}"


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (any level), up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, flags=re.M)
    assert match, f"docs/developing.md has no heading {heading!r}"
    level = len(match.group(1))
    rest = text[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.M)
    return rest[: end.start()] if end else rest


def test_module_map_names_every_module():
    table = "\n".join(line for line in section(DEVELOPING.read_text(), "Module map").splitlines()
                      if line.startswith("| `"))
    named = {token.removeprefix("src/dashboard/") for token in re.findall(r"`([^`]+)`", table)}
    modules = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                     if p.name != "__init__.py" and "__pycache__" not in p.parts)
    missing = [m for m in modules if m not in named]
    assert not missing, f"docs/developing.md's module map misses {missing}"
    stale = [t for t in named if t.endswith(".py") and "*" not in t
             and not ((REPO / t).is_file() if t == "app.py" or t.startswith("views/") else (PACKAGE / t).is_file())]
    assert not stale, f"docs/developing.md's module map names modules that do not exist: {stale}"


# ------------------------------------------------------- the documented steps, on a scratch copy


@dataclass(frozen=True)
class Step:
    target: str  # path in the repo
    action: str  # "new file", "add to NAME", "add to the settings table", "replace the role table ..."
    body: str
    optional: bool


def steps(heading: str) -> tuple[list[Step], str]:
    """The code blocks of a how-to section, in order: each starts with a comment naming the file it
    changes and how (``# path: add to NAME``); the one marked ``# check`` is the command to run."""
    steps, check = [], ""
    for block in re.findall(r"^ *```\w*\n(.*?)^ *```", section(DEVELOPING.read_text(), heading), flags=re.M | re.S):
        lines = block.splitlines()
        indent = len(lines[0]) - len(lines[0].lstrip())
        lines = [line[indent:] for line in lines]
        first = lines[0].strip()
        if first == "# check":
            check = "\n".join(lines[1:]).strip()
            continue
        match = re.match(r"^(?:#|<!--)\s*(\S+?):?\s+(.*?)\s*(?:-->)?$", first)
        assert match, f"{heading}: a code block does not say which file it changes: {first!r}"
        target, action = match.groups()
        optional = action.endswith("(optional)")
        action = action.removesuffix("(optional)").strip().strip("()")
        steps.append(Step(target, action, "\n".join(lines[1:]) + "\n", optional))
    assert steps and check, f"docs/developing.md's {heading!r} has no steps or no check command"
    return steps, check


def scratch_copy(tmp: Path) -> Path:
    """What the app, the package and the tests need, copied (data and fixtures linked: never edited)."""
    root = tmp / "repo"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "fixtures")
    for name in ("app.py", "README.md", "pyproject.toml"):
        shutil.copy2(REPO / name, root / name)
    for name in ("src", "views", "tests", "docs", ".streamlit"):
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    (root / "data").symlink_to(REPO / "data")
    (root / "tests" / "fixtures").symlink_to(REPO / "tests" / "fixtures")
    return root


def scratch_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHBOARD_")}
    env["PYTHONPATH"] = str(root / "src")  # the copy's package, not this checkout's editable install
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_shell(command: str, root: Path, **kw) -> subprocess.CompletedProcess:
    command = command.replace(".venv/bin/python", sys.executable)
    return subprocess.run(command, shell=True, cwd=root, env=scratch_env(root), capture_output=True, text=True,
                          timeout=600, **kw)


def insert_into(source: str, name: str, snippet: str) -> str:
    """``snippet`` added at the end of the tuple/list/dict assigned to ``name``, or after the last field of
    the class ``name``."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            last = [n for n in node.body if isinstance(n, ast.AnnAssign)][-1]
            return "".join(lines[: last.end_lineno]) + snippet + "".join(lines[last.end_lineno:])
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            value = node.value
            offsets = [0]
            for line in lines:
                offsets.append(offsets[-1] + len(line))
            close = offsets[value.end_lineno - 1] + value.end_col_offset - 1  # the closing bracket
            head = source[:close].rstrip()
            if not head.endswith((",", "(", "[", "{")):
                head += ","
            return head + "\n" + snippet + source[close:]
    raise AssertionError(f"no {name} to add to")


def apply(step: Step, root: Path) -> None:
    path = root / step.target
    if step.action == "new file":
        path.write_text(step.body)
    elif step.action == "add to the settings table":
        text = path.read_text().splitlines(keepends=True)
        last = max(i for i, line in enumerate(text) if line.startswith("| `DASHBOARD_"))
        path.write_text("".join(text[: last + 1]) + step.body + "".join(text[last + 1:]))
    elif step.action == "replace the role table with the output of":
        done = run_shell(step.body.strip(), root)
        assert done.returncode == 0, done.stderr
        text = path.read_text()
        table = re.search(r"^\| \| Anonymous public .*?\n(?=[^|])", text, flags=re.M | re.S)
        assert table, f"no role table in {step.target}"
        path.write_text(text[: table.start()] + done.stdout.strip() + "\n" + text[table.end():])
    elif step.action == "add to the module map":
        text = path.read_text().splitlines(keepends=True)
        last = max(i for i, line in enumerate(text) if line.startswith("| `src/dashboard/"))
        path.write_text("".join(text[: last + 1]) + step.body + "".join(text[last + 1:]))
    elif step.action.startswith("add to "):
        name = step.action.removeprefix("add to ")
        path.write_text(insert_into(path.read_text(), name, step.body))
    else:
        raise AssertionError(f"docs/developing.md: a step says {step.action!r}; tests/test_docs.py knows new file, "
                             "add to NAME, add to the settings table, add to the module map, replace the role "
                             "table with the output of")


def carry_out(tmp: Path, heading: str, leave_out: int | None = None, extra: str = "") -> subprocess.CompletedProcess:
    """The section's steps (all, or all but one) on a scratch copy, then its check command (and ``extra``,
    a test file of our own added to the copy and to the command)."""
    found, check = steps(heading)
    root = scratch_copy(tmp)
    for i, step in enumerate(found):
        if i != leave_out:
            apply(step, root)
    if extra:
        (root / "tests" / "test_zz_documented_steps.py").write_text(extra)
        check += " tests/test_zz_documented_steps.py"
    return run_shell(check, root)


def required_steps(heading: str) -> list[int]:
    return [i for i, step in enumerate(steps(heading)[0]) if not step.optional]


PAGE_IN_MENU = '''
from pathlib import Path
from streamlit.testing.v1 import AppTest
from dashboard import access
from tests.conftest import REPO, staff_token
import os


def test_new_page_is_in_the_menu_of_its_roles_only(app_env):
    new = [p for p in access.PAGES if p.name == "{name}"][0]
    for role, shown in (("council", False), (new.least_role, True)):
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        at.session_state["_session_token"] = staff_token(Path(os.environ["DASHBOARD_DATA_DIR"]), role)
        at.run()
        links = {{link.proto.page.rsplit("/", 1)[-1].removesuffix(".py") for link in at.get("page_link")}}
        assert ("{name}" in links) == shown, (role, links)
        if shown:
            at.switch_page("views/{name}.py")
            at.run()
            assert not at.exception and not at.error and at.title, [e.message for e in at.exception]
'''


def new_page_name() -> str:
    page = steps("Add a page")[0][0]
    assert page.action == "new file" and page.target.startswith("views/")
    return Path(page.target).stem


def test_add_a_page_as_documented(tmp_path):
    done = carry_out(tmp_path, "Add a page", extra=PAGE_IN_MENU.format(name=new_page_name()))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


SETTING_READ = '''
from dashboard import config


def test_new_setting_is_read_and_converted():
    setting = config.SETTINGS[-1]
    field = setting.name.removeprefix("DASHBOARD_").lower()
    assert getattr(config.load({{}}), field) == setting.convert(setting.default)
    assert getattr(config.load({{setting.name: "3"}}), field) == setting.convert("3")
    assert ({runtime}) == (setting.name in config.RUNTIME_SETTINGS)
'''


def test_add_a_setting_as_documented(tmp_path):
    runtime = any(step.action == "add to RUNTIME_SETTINGS" for step in steps("Add a setting")[0])
    done = carry_out(tmp_path, "Add a setting", extra=SETTING_READ.format(runtime=runtime))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


KIND_STORED = '''
import json
import os
import subprocess
import sys

from dashboard import schema


def test_ingest_calls_upload_is_stored(tmp_path):
    """The new kind, end to end: a CAD export through `python -m dashboard ingest`, then in the store."""
    kind = schema.DATASET_KINDS[-1]
    export = tmp_path / "cad.csv"
    export.write_text("Event Number,Call Date,Nature,District\\nC1,2026-11-02 08:15,noise,006\\n"
                      "C2,2026-11-02 09:40,alarm,7\\nC3,soon,alarm,7\\n")
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(tmp_path / "data"), "DASHBOARD_LOG_LEVEL": "WARNING"}
    run = lambda *args: subprocess.run([sys.executable, "-m", "dashboard", *args], capture_output=True,
                                       text=True, env=env, timeout=300)
    done = run("ingest", str(export), "--kind", kind.name, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["committed"], report["rows_kept"], report["rows_rejected"]) == (True, 2, 1)
    status = {d["dataset"]: d for d in json.loads(run("status", "--json").stdout)["datasets"]}
    assert status[kind.name]["rows"] == 2 and status[kind.name]["min_date"].startswith("2026-11-02T08:15")
'''


def test_add_a_dataset_kind_as_documented(tmp_path):
    done = carry_out(tmp_path, "Add a dataset kind", extra=KIND_STORED)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


HOW_TOS = ("Add a page", "Add a setting", "Add a dataset kind")


@pytest.mark.parametrize(("heading", "leave_out"), [(h, i) for h in HOW_TOS for i in required_steps(h)])
def test_each_documented_step_is_needed(tmp_path, heading, leave_out):
    """Carried out without one of its steps, a how-to's own check fails (a test fails: the harness works)."""
    done = carry_out(tmp_path, heading, leave_out=leave_out)
    assert done.returncode == 1 and " failed" in done.stdout, (
        f"step {leave_out + 1} of {heading!r} can be left out and the checks still pass:\n{done.stdout[-3000:]}")
