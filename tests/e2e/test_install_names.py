"""The installed import names collide with nothing, and every file says them.

Until 0.2.0 the package was importable as `mockserver` and the plugin as `pytest_plugin`:
names that MockServer's official client (`pip install mockserver-client`) and many
projects' own folders also use. These tests put such neighbours next to an installed
vidu-lipsync-mock, in subprocesses, and show that both sides keep working; that one
process never loads a source file under two names; that the wheel carries the package
under its installed name only; and that no code, example or page still names the old ones.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

import vidu_lipsync_mock

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the test extra installs tomli there
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("mockserver", "pytest_plugin")
#: Plugins whose import costs seconds and which none of the runs here needs.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:faker")
QUIET += ("-p", "no:schemathesis", "-p", "no:randomly")


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A child process without this run's pytest and xdist variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    base.pop("PYTHONPATH", None)
    return subprocess.run(
        argv,
        cwd=cwd,
        env={**base, "PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


# -- a. MockServer's client installed beside us ---------------------------------------------

#: The shape of `mockserver-client` 9.2.0's wheel: a top-level `mockserver` package and a
#: `pytest11` entry point to `mockserver.pytest_plugin`, which gives a `mockserver` fixture.
MOCKSERVER_CLIENT = {
    "mockserver/__init__.py": '''
        """Stand-in for MockServer's Python client."""
        STAND_IN = "mockserver-client"

        class MockServerClient:
            def reset(self):
                return self
        ''',
    "mockserver/pytest_plugin.py": """
        import pytest

        import mockserver

        @pytest.fixture
        def mockserver_client():
            return mockserver.MockServerClient().reset()
        """,
    "mockserver_client-9.2.0.dist-info/METADATA": """
        Metadata-Version: 2.1
        Name: mockserver-client
        Version: 9.2.0
        """,
    "mockserver_client-9.2.0.dist-info/entry_points.txt": """
        [pytest11]
        mockserver = mockserver.pytest_plugin
        """,
    "mockserver_client-9.2.0.dist-info/top_level.txt": "mockserver\n",
}


@pytest.fixture
def beside_mockserver_client(tmp_path: Path) -> dict[str, str]:
    """The environment of a process where `mockserver` is MockServer's client, found
    before anything else on the path."""
    site = write(tmp_path / "site", MOCKSERVER_CLIENT)
    return {"PYTHONPATH": str(site)}


def test_the_package_imports_beside_mockservers_client(tmp_path, beside_mockserver_client):
    probe = """
        import json, mockserver, vidu_lipsync_mock
        from vidu_lipsync_mock import LipSyncMock
        from vidu_lipsync_mock.pytest_plugin import plugin
        mock = LipSyncMock(clock="manual")
        print(json.dumps({
            "mockserver": mockserver.STAND_IN,
            "ours": vidu_lipsync_mock.__file__,
            "plugin": plugin.__file__,
            "model": mock.model("vidu/lip-sync").model_id,
        }))
    """
    result = run(
        [sys.executable, "-c", textwrap.dedent(probe)], tmp_path, **beside_mockserver_client
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["mockserver"] == "mockserver-client"
    assert Path(seen["ours"]).samefile(vidu_lipsync_mock.__file__)
    assert Path(seen["plugin"]).parent.name == "pytest_plugin"
    assert seen["model"] == "vidu/lip-sync"


@pytest.mark.parametrize("program", ["console-script", "python-m"])
def test_the_command_runs_beside_mockservers_client(tmp_path, beside_mockserver_client, program):
    if program == "python-m":
        argv = [sys.executable, "-m", "vidu_lipsync_mock", "--help"]
    else:
        argv = [str(Path(sys.executable).parent / "vidu-lipsync-mock"), "--help"]
    result = run(argv, tmp_path, **beside_mockserver_client)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout


def test_both_pytest_plugins_serve_one_run(tmp_path, beside_mockserver_client):
    project = write(
        tmp_path / "project",
        {
            "test_both.py": """
                import mockserver

                def test_both(request, lipsync_mock, lipsync_client, mockserver_client):
                    manager = request.config.pluginmanager
                    assert manager.has_plugin("lipsync") and manager.has_plugin("mockserver")
                    assert isinstance(mockserver_client, mockserver.MockServerClient)
                    answer = lipsync_client.post(
                        "/api/v1/vidu/lip-sync/async", json={"video_url": "https://a/v.mp4"}
                    )
                    assert answer.status_code == 200
                    assert len(lipsync_mock.tasks()) == 1
                """,
        },
    )
    result = run([sys.executable, "-m", "pytest", *QUIET], project, **beside_mockserver_client)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


# -- b. a project with its own `pytest_plugin` package --------------------------------------


def test_a_project_with_its_own_pytest_plugin_package_runs_its_tests(tmp_path):
    project = write(
        tmp_path / "downstream",
        {
            "pytest_plugin/__init__.py": '"""The project\'s own test helpers."""\n',
            "pytest_plugin/plugin.py": """
                import pytest

                @pytest.fixture
                def house_video_url():
                    return "https://cdn.example.com/house.mp4"
                """,
            "conftest.py": 'pytest_plugins = ["pytest_plugin.plugin"]\n',
            "test_downstream.py": """
                import sys
                from pathlib import Path

                import pytest_plugin

                def test_both(house_video_url, lipsync_mock, lipsync_client):
                    assert Path(pytest_plugin.__file__).parent == Path(__file__).parent / "pytest_plugin"
                    assert "vidu_lipsync_mock.pytest_plugin.plugin" in sys.modules
                    answer = lipsync_client.post(
                        "/api/v1/vidu/lip-sync/async", json={"video_url": house_video_url}
                    )
                    assert answer.status_code == 200
                    assert lipsync_mock.tasks()[0].params["video_url"] == house_video_url
                """,
        },
    )
    result = run([sys.executable, "-m", "pytest", *QUIET], project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


# -- c. one module, one name ----------------------------------------------------------------

IMPORT_EVERYTHING = """
    import importlib, json, pkgutil, sys
    import vidu_lipsync_mock
    import vidu_lipsync_mock.pytest_plugin.plugin
    for package in (vidu_lipsync_mock, vidu_lipsync_mock.pytest_plugin):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith(".__main__"):  # it would start the server
                importlib.import_module(info.name)
    print(json.dumps({n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())}))
"""


def folder_named(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in SOURCE_FOLDERS)


def test_importing_everything_from_the_repository_root_loads_each_file_once():
    # The repository root is the current directory, and so on `sys.path`, as it is for
    # `python -m pytest` there: the source folders are reachable by their own names.
    result = run([sys.executable, "-c", textwrap.dedent(IMPORT_EVERYTHING)], REPO)
    assert result.returncode == 0, result.stderr
    modules: dict[str, str | None] = json.loads(result.stdout)
    assert [name for name in modules if folder_named(name)] == []
    names_of: dict[Path, list[str]] = {}
    for name, file in modules.items():
        path = Path(file).resolve() if file else None
        if path and any(path.is_relative_to(REPO / folder) for folder in SOURCE_FOLDERS):
            names_of.setdefault(path, []).append(name)
    twice = {str(path): names for path, names in names_of.items() if len(names) > 1}
    assert twice == {}
    sources = {
        path.resolve()
        for folder in SOURCE_FOLDERS
        for path in (REPO / folder).rglob("*.py")
        if path.name != "__main__.py"
    }
    assert set(names_of) == sources


def test_this_pytest_run_loaded_nothing_under_a_folder_name():
    # Collection imported every test module of this run before any test ran.
    assert [name for name in sys.modules if folder_named(name)] == []


def python_files() -> list[Path]:
    skip = {".venv", ".git", "build", "_build", "__pycache__", "dist"}
    return [
        path for path in sorted(REPO.rglob("*.py")) if not skip & set(path.relative_to(REPO).parts)
    ]


def test_no_code_in_the_repository_imports_a_source_folder_by_name():
    offenders = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offenders += [
                f"{path.relative_to(REPO)}:{node.lineno}" for n in names if folder_named(n)
            ]
    assert offenders == [], "\n".join(offenders)


#: Old names as prose, examples and commands say them: `import mockserver`,
#: `from pytest_plugin.audit import`, `python -m mockserver`, `mockserver.timetravel`.
OLD_NAME = re.compile(
    r"(?<![\w.])(?:(?:from|import)\s+(?:mockserver|pytest_plugin)\b"
    r"|python -m mockserver\b"
    r"|(?:mockserver|pytest_plugin)\.[a-z_]+)"
)
#: Where old names and made-up paths are meant: the changelog says what the names were;
#: these tests and the layer tests build packages and modules under such names on
#: purpose; the layer rules name modules relative to `vidu_lipsync_mock`.
NAMES_MEANT = {
    "CHANGELOG.md",
    "tests/e2e/test_install_names.py",
    "tests/unit/test_layers.py",
    "tools/architecture.py",
}
#: A path into a source folder (`mockserver/http/public_app.py`, `mockserver/service/specs/`).
PATH_IN_SOURCE_FOLDER = re.compile(r"(?<![\w/.-])((?:mockserver|pytest_plugin)/[\w./*-]*\w)")
#: Output printed by a benchmark run on a named commit, kept as it was printed.
RECORDED = {"benchmarks/RESULTS.md"}


def documents() -> list[Path]:
    pages = [p for p in REPO.glob("**/*.md") if not {".venv", "build", "_build"} & set(p.parts)]
    return sorted({*pages, *python_files(), REPO / "pyproject.toml"})


def test_no_page_example_or_docstring_names_the_old_imports():
    offenders = []
    for path in documents():
        where = path.relative_to(REPO).as_posix()
        if where in NAMES_MEANT:
            continue
        text = path.read_text(encoding="utf-8")
        for match in OLD_NAME.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            offenders.append(f"{where}:{line}: {match.group(0)}")
    assert offenders == [], "\n".join(offenders)


def test_every_path_into_the_source_folders_that_a_file_names_exists():
    missing = []
    for path in documents():
        where = path.relative_to(REPO).as_posix()
        if where in NAMES_MEANT | RECORDED:
            continue
        text = path.read_text(encoding="utf-8")
        for match in PATH_IN_SOURCE_FOLDER.finditer(text):
            named = match.group(1)
            if not any(REPO.glob(named)):
                line = text.count("\n", 0, match.start()) + 1
                missing.append(f"{where}:{line}: {named}")
    assert missing == [], "\n".join(missing)


# -- d. the wheel ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regular (not editable) wheel, built offline by the build backend itself."""
    out = tmp_path_factory.mktemp("wheel")
    result = run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)], REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("*.whl")
    return built


def project_version() -> str:
    with (REPO / "pyproject.toml").open("rb") as handle:
        version: str = tomllib.load(handle)["project"]["version"]
    return version


def test_the_wheel_holds_the_package_under_its_installed_name_only(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    version = project_version()
    assert wheel.name == f"vidu_lipsync_mock-{version}-py3-none-any.whl"
    assert {
        "vidu_lipsync_mock/__init__.py",
        "vidu_lipsync_mock/py.typed",
        "vidu_lipsync_mock/pytest_plugin/plugin.py",
        "vidu_lipsync_mock/_media/result.mp4",
        "vidu_lipsync_mock/service/specs/vidu-lip-sync.api_schema.json",
    } <= names
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"vidu_lipsync_mock", f"vidu_lipsync_mock-{version}.dist-info"}
    sources = {
        ("vidu_lipsync_mock/" if folder == "mockserver" else "vidu_lipsync_mock/pytest_plugin/")
        + path.relative_to(REPO / folder).as_posix()
        for folder in SOURCE_FOLDERS
        for path in (REPO / folder).rglob("*.py")
    }
    assert sources <= names


def test_the_wheels_entry_points_name_the_installed_modules(wheel):
    archive = zipfile.ZipFile(wheel)
    info = f"vidu_lipsync_mock-{project_version()}.dist-info"
    entry_points = configparser.ConfigParser()
    entry_points.read_string(archive.read(f"{info}/entry_points.txt").decode())
    assert dict(entry_points["console_scripts"]) == {
        "vidu-lipsync-mock": "vidu_lipsync_mock.cli:main"
    }
    assert dict(entry_points["pytest11"]) == {"lipsync": "vidu_lipsync_mock.pytest_plugin.plugin"}
    metadata = archive.read(f"{info}/METADATA").decode()
    assert f"\nVersion: {project_version()}\n" in metadata


def test_the_unpacked_wheel_runs_without_the_checkout(wheel, tmp_path):
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = """
        import json, vidu_lipsync_mock
        from vidu_lipsync_mock.media.library import MediaLibrary
        from vidu_lipsync_mock.pytest_plugin import plugin
        from vidu_lipsync_mock.service.registry import Registry
        print(json.dumps({
            "package": vidu_lipsync_mock.__file__,
            "plugin": plugin.__file__,
            "media": str(MediaLibrary().directory),
            "probed": MediaLibrary().result(Registry.bundled().default_model.card.result).width > 0,
            "models": [spec.model_id for spec in Registry.bundled()],
        }))
    """
    # -S: no site-packages processing, so the editable install's finder stays out; the
    # dependencies come from this environment's site-packages, on the path after the wheel.
    path = os.pathsep.join([str(unpacked), sysconfig.get_paths()["purelib"]])
    result = run([sys.executable, "-S", "-c", textwrap.dedent(probe)], tmp_path, PYTHONPATH=path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    package = unpacked / "vidu_lipsync_mock"
    assert Path(seen["package"]) == package / "__init__.py"
    assert Path(seen["plugin"]) == package / "pytest_plugin" / "plugin.py"
    assert Path(seen["media"]) == package / "_media"
    assert seen["probed"] is True
    assert "vidu/lip-sync" in seen["models"]
    command = [sys.executable, "-S", "-m", "vidu_lipsync_mock", "--help"]
    result = run(command, tmp_path, PYTHONPATH=path)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout


# -- the release ----------------------------------------------------------------------------


def test_the_version_is_one_across_package_metadata_and_changelog():
    from importlib.metadata import version

    expected = project_version()
    assert vidu_lipsync_mock.__version__ == expected
    assert version("vidu-lipsync-mock") == expected
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, flags=re.MULTILINE)
    assert releases[0] == expected
    assert "[CHANGELOG.md](CHANGELOG.md)" in (REPO / "README.md").read_text(encoding="utf-8")
