"""dvc.yaml's deps cannot drift from the code: every module a stage's command loads is one of its deps.

For each stage of dvc.yaml (foreach stages resolved here), its `python -m <module>` is imported in a fresh
interpreter and the first-party modules it loaded are collected (package `__init__.py` files included). Imports
done inside functions escape that, so every loaded module's source is also read: each `import` and `from ...
import` anywhere in it (inside functions too, relative imports resolved), transitively. Each of those files must
be covered by the stage's deps (a dep covers a file when it is that file or a folder holding it).

Nothing here names a module of the package: the stages, their commands and their deps come from dvc.yaml.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# ---- dvc.yaml: stages, with foreach/do resolved ----------------------------------------------------------------

_REFERENCE = re.compile(r"\$\{\s*([^}]+?)\s*\}")


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: str
    deps: tuple[str, ...]


def _substitute(text: str, scope: dict) -> str:
    """`${key}`, `${item}` and `${item.field...}` of a foreach stage; anything else is left as written."""

    def value(match: re.Match) -> str:
        parts = match.group(1).split(".")
        if parts[0] not in scope:
            return match.group(0)
        found = scope[parts[0]]
        for part in parts[1:]:
            if not isinstance(found, dict) or part not in found:
                return match.group(0)
            found = found[part]
        return str(found)

    return _REFERENCE.sub(value, text)


def _dep_path(dep) -> str:
    return next(iter(dep)) if isinstance(dep, dict) else str(dep)  # a dep may carry options ({path: {...}})


def stages_of(definition: dict) -> dict[str, Stage]:
    """Every stage of a dvc.yaml mapping by its DVC name (`grid-search@gender` for a foreach stage)."""
    found = {}
    for name, body in (definition.get("stages") or {}).items():
        if "foreach" in body:
            items = body["foreach"]
            pairs = items.items() if isinstance(items, dict) else ((str(item), item) for item in items)
            for key, item in pairs:
                do = body["do"]
                scope = {"key": key, "item": item}
                found[f"{name}@{key}"] = Stage(
                    f"{name}@{key}",
                    _substitute(do["cmd"], scope),
                    tuple(_substitute(_dep_path(dep), scope) for dep in do.get("deps") or ()),
                )
        else:
            found[name] = Stage(name, body["cmd"], tuple(_dep_path(dep) for dep in body.get("deps") or ()))
    return found


def load_stages(path: Path = ROOT / "dvc.yaml") -> dict[str, Stage]:
    return stages_of(yaml.safe_load(path.read_text(encoding="utf-8")))


def stage_module(cmd: str) -> str:
    """The module of a `python -m <module> [args]` command."""
    words = shlex.split(cmd)
    if len(words) < 3 or not re.fullmatch(r"python[0-9.]*", Path(words[0]).name) or words[1] != "-m":
        raise ValueError(f"not a `python -m <module>` command: {cmd!r}")
    return words[2]


# ---- what a module needs: loaded at import, and imported anywhere in their sources ------------------------------

# Run in a fresh interpreter: argv = root, then the modules. The interpreter first imports the third-party modules
# that the first-party sources import at their top level (never a first-party one), then forks one child per
# module: each child starts with no first-party module loaded, imports its module, and reports the first-party
# modules it then holds. Without fork (Windows), one interpreter per module and no warming.
_LOADED = """
import ast, importlib, json, os, sys, traceback
from pathlib import Path
root, modules = Path(sys.argv[1]), sys.argv[2:]
tops = {module.split(".")[0] for module in modules}

def first_party():
    return {name: getattr(m, "__file__", None) for name, m in list(sys.modules.items()) if name.split(".")[0] in tops}

def report(module):
    try:
        importlib.import_module(module)
        return {"files": first_party()}
    except BaseException:
        return {"error": traceback.format_exc()}

if not hasattr(os, "fork") or len(modules) == 1:
    print(json.dumps({module: report(module) for module in modules[:1]}))
    raise SystemExit
for top in tops:
    for path in sorted((root / top).rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module else [])
            for name in names:
                if name.split(".")[0] not in tops:
                    try:
                        importlib.import_module(name)
                    except BaseException:
                        pass
assert not first_party(), "a third-party import loaded first-party modules"
results = {}
for module in modules:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        with os.fdopen(write, "w") as out:
            out.write(json.dumps(report(module)))
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        results[module] = json.loads(answer.read() or '{"error": "no answer"}')
    os.waitpid(pid, 0)
print(json.dumps(results))
"""

_loaded: dict[tuple[str, Path], dict[str, str]] = {}


def prefetch(modules, root: Path = ROOT) -> None:
    """Import each module with no first-party module loaded before it (see _LOADED), one interpreter for all;
    loaded_modules then answers from memory."""
    wanted = [module for module in dict.fromkeys(modules) if (module, root) not in _loaded]
    if not wanted:
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    groups = [wanted] if hasattr(os, "fork") else [[module] for module in wanted]
    for group in groups:
        done = subprocess.run(
            [sys.executable, "-c", _LOADED, str(root), *group],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode:
            raise AssertionError(f"importing {', '.join(group)} failed:\n{done.stderr[-3000:]}")
        for module, result in json.loads(done.stdout.strip().splitlines()[-1]).items():
            if "error" in result:
                raise AssertionError(f"importing {module} failed:\n{result['error'][-3000:]}")
            files = result["files"].items()
            _loaded[module, root] = {name: _relative(Path(path), root) for name, path in files if path}


def loaded_modules(module: str, root: Path = ROOT) -> dict[str, str]:
    """{module name: file relative to root} of the first-party modules importing `module` loads (with none
    loaded before; namespace packages and modules without a file are left out)."""
    prefetch([module], root)
    return _loaded[module, root]


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise AssertionError(f"{path} is not inside {root}: the package was imported from elsewhere") from None


def module_file(name: str, root: Path) -> str | None:
    """The source file of a module below root (`a.b` -> a/b.py or a/b/__init__.py), None when there is none."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(root).as_posix()
    return None


def imported_names(source: str, name: str, is_package: bool) -> set[str]:
    """Every module name an `import` or `from ... import` anywhere in the source may load (for `from a import b`:
    `a`, and `a.b` in case b is a submodule), relative imports resolved against module `name`."""
    package = name if is_package else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    continue  # beyond the top-level package: not ours to resolve
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _with_parents(name: str) -> list[str]:
    """A module and its packages (importing a.b.c runs a/__init__.py and a/b/__init__.py too)."""
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


@dataclass
class Needs:
    """The files a stage's module needs, each with why: `loaded` at import, or `imported by <file>`."""

    files: dict[str, str] = field(default_factory=dict)

    def add(self, path: str, why: str) -> bool:
        if path in self.files:
            return False
        self.files[path] = why
        return True


def needed_files(loaded: dict[str, str], root: Path) -> dict[str, str]:
    """{file: why} for the loaded modules and, transitively, every first-party module their sources import."""
    tops = {name.split(".")[0] for name in loaded}
    needs = Needs()
    queue = []
    for name, path in sorted(loaded.items()):
        needs.add(path, "loaded when the stage's module is imported")
        queue.append(name)
    seen = set(queue)
    while queue:
        name = queue.pop()
        path = loaded.get(name) or module_file(name, root)
        source = (root / path).read_text(encoding="utf-8")
        for imported in sorted(imported_names(source, name, path.endswith("__init__.py"))):
            if imported.split(".")[0] not in tops:
                continue
            for module in _with_parents(imported):
                file = module_file(module, root)
                if file is None or module in seen:
                    continue  # not a module (an attribute of `from a import b`), or done
                seen.add(module)
                needs.add(file, f"imported by {path}")
                queue.append(module)
    return needs.files


def covers(dep: str, path: str) -> bool:
    dep = os.path.normpath(dep).replace(os.sep, "/")
    return path == dep or path.startswith(dep.rstrip("/") + "/")


def missing_deps(needed: dict[str, str], deps: tuple[str, ...] | list[str]) -> dict[str, str]:
    """{file: why} of the needed files that no dep covers."""
    return {path: why for path, why in sorted(needed.items()) if not any(covers(dep, path) for dep in deps)}


def stage_missing_deps(stage: Stage, root: Path = ROOT) -> dict[str, str]:
    return missing_deps(needed_files(loaded_modules(stage_module(stage.cmd), root), root), stage.deps)


def report(missing: dict[str, dict[str, str]]) -> str:
    """stage -> missing files, one line each with why the stage needs it."""
    lines = ["files the stage's code needs but its deps in dvc.yaml do not cover:"]
    for stage, files in missing.items():
        lines.append(f"  {stage}:")
        lines += [f"    - {path}  ({why})" for path, why in files.items()]
    return "\n".join(lines)


# ---- the tests -------------------------------------------------------------------------------------------------

STAGES = load_stages()


@pytest.fixture(scope="module")
def every_stage_imported():
    """Every stage's module imported once, up front: the parametrized checks then take no time."""
    prefetch(stage_module(stage.cmd) for stage in STAGES.values())


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_the_code_it_runs(name, every_stage_imported):
    missing = stage_missing_deps(STAGES[name])
    assert not missing, report({name: missing})


def _package(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")


def test_a_missing_dep_is_reported_whether_imported_at_load_or_lazily(tmp_path):
    """A made-up package and a dvc.yaml whose deps miss files: each is named, with why it is needed."""
    _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/stages/__init__.py": "",
            "pkg/stages/run.py": "from pkg import io\nfrom ..sub import helper\n",
            "pkg/io.py": "def read():\n    from pkg.lazy import thing\n    return thing\n",
            "pkg/lazy.py": "thing = 1\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/helper.py": "def go():\n    from . import deeper\n",
            "pkg/sub/deeper.py": "",
            "pkg/unused.py": "",
        },
    )
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "run": {
                        "foreach": {"one": {"code": "pkg/stages"}},
                        "do": {"cmd": "python -m pkg.stages.run ${key}", "deps": ["${item.code}", "pkg/io.py"]},
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    stage = load_stages(tmp_path / "dvc.yaml")["run@one"]
    assert stage.deps == ("pkg/stages", "pkg/io.py") and stage_module(stage.cmd) == "pkg.stages.run"
    missing = stage_missing_deps(stage, tmp_path)
    assert missing == {
        "pkg/__init__.py": "loaded when the stage's module is imported",
        "pkg/lazy.py": "imported by pkg/io.py",
        "pkg/sub/__init__.py": "loaded when the stage's module is imported",
        "pkg/sub/deeper.py": "imported by pkg/sub/helper.py",
        "pkg/sub/helper.py": "loaded when the stage's module is imported",
    }
    assert "run@one:\n    - pkg/__init__.py" in report({"run@one": missing})
    assert not stage_missing_deps(Stage("run@one", stage.cmd, ("pkg",)), tmp_path)  # a folder covers it all


def test_a_real_stage_missing_one_of_its_files_is_reported(every_stage_imported):
    """The first stage of dvc.yaml, against deps that cover all it needs but one of its files."""
    stage = STAGES[sorted(STAGES)[0]]
    needed = needed_files(loaded_modules(stage_module(stage.cmd)), ROOT)
    lazy = [path for path, why in needed.items() if why.startswith("imported by")]
    for left_out in [min(needed), *lazy[:1]]:
        deps = [path for path in needed if path != left_out]
        assert missing_deps(needed, deps) == {left_out: needed[left_out]}
    assert not missing_deps(needed, list(needed))


def test_a_command_that_is_not_python_m_is_refused():
    with pytest.raises(ValueError, match="python -m"):
        stage_module("bash run.sh")
    assert stage_module("python -m pipeline.stages.grid_search gender") == "pipeline.stages.grid_search"


def test_the_forked_import_loads_what_a_fresh_interpreter_loads(every_stage_imported):
    """The shared interpreter's children (third-party modules imported beforehand) load the same first-party
    modules as a plain fresh interpreter importing the stage's module alone."""
    module = stage_module(STAGES[sorted(STAGES)[0]].cmd)
    forked = loaded_modules(module)
    del _loaded[module, ROOT]
    assert loaded_modules(module) == forked  # one module: one interpreter, nothing imported beforehand
