"""The Dagger module's registration, loaded offline: documented, and defaulting as the settings do.

The module's code is imported as the module runtime would import it (from .dagger/src), with
only dagger-io's `dagger.mod` decorators; no engine is contacted. `__dagger_object_type__` is
what the SDK registers with the engine, so these tests read the same names, docs and defaults
that `dagger call --help` shows.
"""

from __future__ import annotations

import importlib
import json
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import SecretStr

from pipelines.errors import InputError, PipelineError
from pipelines.settings import Settings, load_settings
from tests.conftest import REPO
from tests.unit.test_versions import pinned

MODULE_SRC = REPO / ".dagger" / "src"
FUNCTIONS = {"build_image", "build_output", "build", "publish", "smoke", "audit", "verify"}
# Module argument -> the setting it sets, where the names differ.
SETTING_OF = {"audit_mode": "audit", "username": "registry_username"}
# Arguments that are no setting of their own, or whose default cannot be a setting's.
NOT_SETTINGS = {
    "source",  # a Directory; the module exports it and passes its path as `source`
    "platform",  # one platform of `platforms`
    "reference",  # what verify checks
    "require",  # what verify requires of each platform (the build's is the attest setting)
    "password",  # a dagger.Secret (None when not given), the setting is its plaintext
}
REQUIRED = {"image"}  # publish's repository: a setting without a usable default
# Settings the constructor does not take, and why.
NOT_CONSTRUCTOR_ARGUMENTS = {
    "source": "the constructor's Directory argument",
    "image": "an argument of publish",
    "tags": "an argument of publish",
    "tag_race": "an argument of publish",
    "publish": "the publish function",
    "registry_username": "an argument of publish and verify",
    "registry_password": "a Secret argument of publish and verify",
    "export_path": "build returns the archive as a File; the caller exports it",
    "report_dir": "functions return their results; there is no report directory",
    "log_format": "logs go to the function's stderr, which Dagger shows",
    "timeout_s": "a dagger call is cancelled by its caller",
    "engines": "a module runs inside one engine and cannot open sessions on others",
    "probe_secrets": "their values come from the CI's environment, which the module never reads",
    "sign_key": "signing is not offered through the module yet (the command line signs)",
    "sign_password": "signing is not offered through the module yet (the command line signs)",
}


@pytest.fixture(scope="module")
def module() -> ModuleType:
    """The module's package, imported from .dagger/src as the runtime does."""
    sys.path.insert(0, str(MODULE_SRC))
    try:
        return importlib.import_module("node_pipelines_module")
    finally:
        sys.path.remove(str(MODULE_SRC))


@pytest.fixture(scope="module")
def registered(module: ModuleType) -> dict[str, Any]:
    """Every registered function by API name, the constructor as ''."""
    object_type = module.NodePipelines.__dagger_object_type__
    object_type.get_constructor()  # adds the constructor under '' as registration does
    return dict(object_type.functions)


def plain(value: Any) -> Any:
    """A settings default as JSON would carry it (platforms as strings, tuples as lists)."""
    if isinstance(value, tuple):
        return [str(item) for item in value]
    return value


def test_the_functions_are_registered(registered: dict[str, Any]) -> None:
    """The object type registers the constructor and every function issue 11 asks for."""
    assert set(registered) == FUNCTIONS | {""}


def test_every_function_has_a_one_line_docstring(registered: dict[str, Any]) -> None:
    """Each function's description (its `--help` line) is one non-empty line."""
    for name, function in registered.items():
        doc = function.doc or ""
        assert doc.strip() and "\n" not in doc.strip(), f"{name or 'constructor'}: got {doc!r}"


def test_every_argument_has_a_doc(registered: dict[str, Any]) -> None:
    """Every argument of every function carries a Doc."""
    missing = [f"{name or 'constructor'}.{p.name}" for name, function in registered.items()
               for p in function.parameters.values() if not (p.doc or "").strip()]
    assert missing == []


def test_argument_defaults_equal_the_settings_defaults(registered: dict[str, Any]) -> None:
    """Each argument that is a setting defaults to exactly the settings default."""
    checked = 0
    for name, function in registered.items():
        for param in function.parameters.values():
            if param.name in NOT_SETTINGS:
                continue
            if param.name in REQUIRED:
                assert param.default_value is None, f"{name}.{param.name}: wanted no default"
                continue
            setting = SETTING_OF.get(param.name, param.name)
            assert setting in Settings.model_fields, f"{name}.{param.name}: no such setting"
            assert param.default_value is not None, f"{name}.{param.name}: wanted a default"
            want = plain(Settings.model_fields[setting].default)
            got = json.loads(param.default_value)
            where = f"{name or 'constructor'}.{param.name}"
            assert got == want, f"{where}: wanted {want!r}, got {got!r}"
            checked += 1
    assert checked >= 20


def test_the_constructor_covers_every_setting(registered: dict[str, Any]) -> None:
    """Every setting is a constructor argument, or is listed with the reason it is not."""
    arguments = {SETTING_OF.get(p.name, p.name) for p in registered[""].parameters.values()}
    arguments -= {"source"}
    assert arguments | set(NOT_CONSTRUCTOR_ARGUMENTS) == set(Settings.model_fields)
    assert not arguments & set(NOT_CONSTRUCTOR_ARGUMENTS)


def test_the_source_defaults_to_the_calling_directory(registered: dict[str, Any]) -> None:
    """The source is the context directory, without node_modules, .git and build output."""
    (source,) = [p for p in registered[""].parameters.values() if p.name == "source"]
    assert source.default_path == "/"
    assert {"node_modules", "**/node_modules", ".git", "build", "dist"} <= set(source.ignore)


def test_the_password_is_a_secret(registered: dict[str, Any]) -> None:
    """publish and verify take the registry password as a dagger.Secret, never as text."""
    import dagger  # noqa: PLC0415 - only this test needs the SDK's types

    for name in ("publish", "verify"):
        password = registered[name].parameters["password"]
        assert password.resolved_type == dagger.Secret | None, name


def test_default_arguments_give_the_default_settings(module: ModuleType, tmp_path: Path) -> None:
    """The constructor's defaults, mapped to settings, equal the settings defaults."""
    plan = importlib.import_module("node_pipelines_module.plan")
    arguments = module.NodePipelines(source=None)._settings()
    assert plan.settings_for(tmp_path, arguments) == load_settings({"source": tmp_path}, {})


def test_config_file_applies_where_an_argument_is_left_at_its_default(
    module: ModuleType, tmp_path: Path
) -> None:
    """node-pipelines.toml sets what an argument leaves at its default, not what it changes."""
    plan = importlib.import_module("node_pipelines_module.plan")
    (tmp_path / "node-pipelines.toml").write_text('port = 3000\nhealth_path = "/healthz"\n')
    defaults = module.NodePipelines(source=None)._settings()
    settings = plan.settings_for(tmp_path, defaults)
    assert (settings.port, settings.health_path) == (3000, "/healthz")
    changed = module.NodePipelines(source=None, port=9000)._settings()
    assert plan.settings_for(tmp_path, changed).port == 9000


def test_the_module_reads_no_environment(
    module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NODEPIPE_* variable in the module's environment is not configuration."""
    plan = importlib.import_module("node_pipelines_module.plan")
    monkeypatch.setenv("NODEPIPE_NODE_OPTIONS", "--inspect")
    settings = plan.settings_for(tmp_path, module.NodePipelines(source=None)._settings())
    assert settings.node_options == "--max-old-space-size=2048"


def test_publish_arguments_reach_the_settings(module: ModuleType, tmp_path: Path) -> None:
    """publish's image, tags and login become the publish settings; the password stays secret."""
    plan = importlib.import_module("node_pipelines_module.plan")
    arguments = module.NodePipelines(source=None)._settings(
        publish=True, image="registry.example/team/app", tags=["1.2", "latest"],
        registry_username="ci", registry_password=SecretStr("canary-3f1c"))
    settings = plan.settings_for(tmp_path, arguments)
    assert (settings.publish, settings.image, settings.tags) == (
        True, "registry.example/team/app", ("1.2", "latest"))
    assert settings.registry_password.get_secret_value() == "canary-3f1c"
    assert "canary-3f1c" not in repr(settings)


def test_a_bad_argument_is_one_sentence(module: ModuleType, tmp_path: Path) -> None:
    """An invalid argument fails as the command line does: a SettingsError naming it."""
    plan = importlib.import_module("node_pipelines_module.plan")
    arguments = module.NodePipelines(source=None, platforms=["linux/s390x"])._settings()
    with pytest.raises(InputError, match="allow-unsupported-platforms"):
        plan.settings_for(tmp_path, arguments)


def test_task_group_failures_reach_the_caller_as_the_first_error(module: ModuleType) -> None:
    """A failure inside a task group reaches Dagger as its own sentence, not as a group."""
    plan = importlib.import_module("node_pipelines_module.plan")
    failure = PipelineError("exited with 1", stage="smoke", platform="linux/arm64")
    with pytest.raises(PipelineError) as caught, plan.first_error():
        raise ExceptionGroup("task group", [failure])
    assert caught.value is failure


def test_dagger_json_points_at_the_module_and_includes_the_pipeline() -> None:
    """dagger.json loads .dagger with the Python SDK and includes what installs `pipelines`."""
    config = json.loads((REPO / "dagger.json").read_text())
    assert (config["source"], config["sdk"]["source"]) == (".dagger", "python")
    assert {"pyproject.toml", "README.md", "pipelines/**"} <= set(config["include"])
    readme = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["readme"]
    assert readme in config["include"]


def test_the_module_installs_this_repository_and_the_pinned_sdk() -> None:
    """The module depends on the repository root by path, and its lock holds the pinned SDK."""
    project = tomllib.loads((REPO / ".dagger" / "pyproject.toml").read_text())
    assert project["project"]["dependencies"] == ["node-pipelines"]
    sources = project["tool"]["uv"]["sources"]
    assert sources == {"node-pipelines": {"path": "..", "editable": True}}
    lock = tomllib.loads((REPO / ".dagger" / "uv.lock").read_text())
    versions = {p["name"]: p["version"] for p in lock["package"]}
    assert versions["dagger-io"] == pinned()
