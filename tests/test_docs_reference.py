"""The reference pages in docs/ say what the code does: every public name, parameter, config key,
error class and environment variable is documented, and every link between pages lands."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import datamake
import datamake.api
from datamake.project import settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line) up to the next heading of its level or above."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading) + 1
    fenced = False
    for end in range(start, len(lines)):
        if lines[end].startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,%d} " % level, lines[end]):
            return "\n".join(lines[start:end])
    return "\n".join(lines[start:])


def rows(text: str) -> set:
    """The first cell of each table row, without backticks: the names a table documents."""
    return {m.group(1) for m in re.finditer(r"^\| `([^`]+)`", text, re.M)}


def parameters(fn) -> list:
    return [p for p in inspect.signature(fn).parameters if p not in ("fn", "self")]


# -- the Python API -------------------------------------------------------------------------------

def test_every_public_name_of_datamake_is_exported_sorted_and_documented():
    exported = datamake.__all__
    assert exported == sorted(set(exported))
    defined = {n for n, v in vars(datamake).items()
               if not n.startswith("_") and not inspect.ismodule(v) and type(v).__module__ != "__future__"}
    assert defined <= set(exported), f"public but not in __all__: {defined - set(exported)}"
    table = section(page("api.md"), "## `datamake`: declaring assets")
    documented = {name for cell in re.findall(r"^\| ([^|]+) \|", table, re.M) for name in re.findall(r"`([^`]+)`", cell)}
    assert set(exported) - documented == set()


@pytest.mark.parametrize("heading, fn", [
    ("### `@asset`", datamake.asset),
    ("### `source`", datamake.source),
    ("### `resource`", datamake.resource),
    ("### `asset_check`", datamake.asset_check),
    ("### `Definitions`", datamake.Definitions.__init__),
])
def test_every_parameter_of_a_declaration_has_a_row(heading, fn):
    documented = rows(section(page("api.md"), heading))
    assert [p for p in parameters(fn) if p not in documented] == []


def test_every_attribute_of_the_asset_context_is_documented():
    context = datamake.AssetContext("orders", "run-1")
    public = {n for n in vars(context) if not n.startswith("_")}
    public |= {n for n, v in vars(datamake.AssetContext).items() if not n.startswith("_")}
    public -= {"written_for", "written_file", "cleanup"}  # called by datamake's workers, not by asset code
    documented = {name.split("(")[0] for name in rows(section(page("api.md"), "### `AssetContext`"))}
    assert public - documented == set()


def test_the_io_manager_protocol_is_documented_member_by_member():
    documented = {name.split("(")[0] for name in rows(section(page("api.md"), "### IO managers"))}
    members = {n for n in vars(datamake.IOManager) if not n.startswith("_")} | set(datamake.IOManager.__annotations__)
    assert members and members - documented == set()


def _signature_text(fn) -> str:
    """``name(a, b=1, *, c=None)``: the signature as the API page writes it, without annotations."""
    parts, keyword_only = [], False
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.KEYWORD_ONLY and not keyword_only:
            parts.append("*")
            keyword_only = True
        parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return f"{fn.__name__}({', '.join(parts)})"


def test_every_api_function_is_in_all_and_documented_with_its_exact_signature():
    api = datamake.api
    functions = {n for n, v in vars(api).items()
                 if inspect.isfunction(v) and v.__module__ == api.__name__ and not n.startswith("_")}
    assert api.__all__ == sorted(api.__all__) and set(api.__all__) == functions
    documented = rows(section(page("api.md"), "## `datamake.api`: running commands from Python"))
    assert [_signature_text(getattr(api, n)) for n in api.__all__
            if _signature_text(getattr(api, n)) not in documented] == []


# -- datamake.toml --------------------------------------------------------------------------------

def test_every_table_and_key_settings_accepts_is_in_the_configuration_reference():
    text = page("configuration.md")
    missing = []
    for table, keys in settings._SCHEMA.items():
        documented = rows(section(text, f"## `[{table}]`"))
        missing += [f"[{table}] {key}" for key in keys if key not in documented]
    for table in settings._FREEFORM_TABLES:
        assert f"## `[{table}." in text, table
    assert missing == []


def test_the_complete_example_of_the_configuration_reference_loads_and_sets_every_key(tmp_path):
    text = page("configuration.md")
    example = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    path = tmp_path / "datamake.toml"
    path.write_text(example, encoding="utf-8")
    config = settings.load_config(str(path))
    data = settings.read_toml(str(path))
    for table, keys in settings._SCHEMA.items():
        uncommented = set(data.get(table, {}))
        commented = set(re.findall(rf"^# ({'|'.join(keys)}) =", example, re.M))
        assert set(keys) <= uncommented | commented, (table, set(keys) - uncommented - commented)
    assert config.jobs == 4 and config.cache_remote == "s3://team-bucket/datamake"


# -- errors and the environment -------------------------------------------------------------------

def _all_error_classes():
    for info in pkgutil.walk_packages(datamake.__path__, "datamake."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    found, todo = [], [datamake.DatamakeError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_class_is_documented_with_its_exit_code():
    table = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\| `(\w+)` \| (\d) \|", page("errors.md"), re.M)}
    documented = {cls.__name__: table.get(cls.__name__) for cls in _all_error_classes()}
    assert documented == {cls.__name__: cls.exit_code for cls in _all_error_classes()}


_ENV_READ = re.compile(r"""(?:environ\.get\(|environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")


def test_every_environment_variable_the_code_reads_is_on_the_environment_page():
    read = set()
    for path in (ROOT / "datamake").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        read |= set(_ENV_READ.findall(text)) | set(re.findall(r"\bDATAMAKE_[A-Z0-9_]+", text))
    assert {"DATAMAKE_FSYNC", "DATAMAKE_CACHE_DIR"} <= read
    assert read - rows(page("environment.md")) == set()


# -- links ----------------------------------------------------------------------------------------

def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set:
    out, fenced = set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#+ ", line):
            out.add(_slug(line.lstrip("#")))
    return out


def test_every_page_is_linked_from_the_readme_and_every_link_between_pages_lands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [p.name for p in sorted(DOCS.glob("*.md")) if f"(docs/{p.name})" not in readme] == []
    broken = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target, anchor in re.findall(r"\]\(((?:docs/)?[\w-]*(?:\.md)?)(?:#([\w-]+))?\)", path.read_text("utf-8")):
            if not target and not anchor:
                continue
            linked = (path.parent / target) if target else path
            if not linked.is_file() or (anchor and anchor not in _anchors(linked.read_text("utf-8"))):
                broken.append(f"{path.name}: ({target}#{anchor})")
    assert broken == []


def test_the_custom_io_manager_example_of_the_api_page_builds_and_reads_back(tmp_path):
    example = re.search(r"```python\n(.*?)```", section(page("api.md"), "### IO managers"), re.S).group(1)
    (tmp_path / "pipeline.py").write_text(example, encoding="utf-8")
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n', encoding="utf-8")
    project = datamake.api.load(str(tmp_path))
    assert datamake.api.make(project, history=False)["events"].outcome == "built"
    assert datamake.api.show(project, "events") == [{"id": 1}, {"id": 2}]
    stored = project.store.read_manifests(["events"])["events"]  # a file, or inline in the manifest
    assert project.store.read_artifact(stored) == b'{"id": 1}\n{"id": 2}\n'


# -- command lines shown in the docs --------------------------------------------------------------

def _shown_command_lines(text: str):
    """Each ``datamake …`` command line of a page: ``$ datamake …`` in code blocks, a code block's
    synopsis line (``datamake make [OPTIONS]``) and inline code; with whether it is a ``$`` line."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced and re.match(r"\$ (?:\S+=\S+ )*datamake ", line):
            yield line[line.index("datamake "):], True
        elif fenced and line.startswith("datamake "):
            yield line, False
        if not fenced:
            yield from ((m, True) for m in re.findall(r"`(datamake [^`\\]+)`", line))


def _unknown_parts(line: str, known_command: bool):
    """The command words and options of ``line`` that the `datamake` command does not have."""
    import click

    from datamake.cli.main import main

    words = re.split(r"\s+(?:#|\||&&|;|>|2>)", line)[0].replace("[", " ").replace("]", " ").split()[1:]
    command, unknown = main, []
    while words and words[0] in ("-C", "--project"):
        words = words[2:]
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        sub = command.get_command(click.Context(command), words[0])
        if sub is None:
            return [words[0]] if known_command and words[0].islower() and words[0].isidentifier() else []
        command, words = sub, words[1:]
    options = {"-h", "--help", *(o for p in command.params for o in (*p.opts, *p.secondary_opts))}
    for option in (o for word in words for o in word.split("=", 1)[0].split("/")):
        if not option.startswith("-") or option in ("-", "--") or option[1:2].isdigit() or option in options:
            continue
        if not option.startswith("--") and all(f"-{c}" in options for c in option[1:]):
            continue  # short flags together: -qk
        unknown.append(option)
    return unknown


def test_every_command_and_option_the_docs_show_exists():
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    unknown = [f"{p.name}: {line!r}: {', '.join(bad)}"
               for p in pages for line, known in _shown_command_lines(p.read_text("utf-8"))
               for bad in [_unknown_parts(line, known)] if bad]
    assert unknown == []


# -- the getting-started page, run as written -----------------------------------------------------

def _masked(text: str, root: str) -> str:
    """``text`` without what differs between runs: timings, run ids, hashes, the project's folder."""
    text = text.replace(root, "/home/me/shop")
    text = re.sub(r"\d{8}T\d{6}-[0-9a-f]{8}", "RUN", text)
    text = re.sub(r"\b[0-9a-f]{12,16}\b", "HASH", text)
    return re.sub(r"\d+\.\d+s\b", "0.00s", text)


def _sessions(block: str):
    """Each ``$ datamake ...`` command of a console block with the lines it prints."""
    for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
        command, _, output = chunk.partition("\n")
        yield command.split(), output.rstrip("\n")


def test_the_getting_started_page_prints_what_it_shows(inprocess_project):
    text = page("getting-started.md")
    inprocess_project.write("data/orders.csv", re.search(r"```csv\n(.*?)```", text, re.S).group(1))
    inprocess_project.write("datamake.toml", re.search(r"```toml\n(.*?)```", text, re.S).group(1))
    inprocess_project.write("pipeline.py", re.search(r"```python\n(.*?)```", text, re.S).group(1))
    root = str(inprocess_project.root)
    for heading in ("## See what there is", "## Build"):
        block = re.search(r"```console\n(.*?)```", section(text, heading), re.S).group(1)
        for command, shown in _sessions(block):
            printed = inprocess_project.run(*command[1:], check=True).stdout.rstrip("\n")
            assert _masked(printed, root) == _masked(shown, root), command
