"""Settings: precedence, defaults, validation sentences, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import InputError
from pipelines.platforms import Platform
from pipelines.settings import BUNDLED_EXAMPLE, Settings, load_settings, public_view


def write_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "node-pipelines.toml").write_text(text)
    return tmp_path


def test_defaults_build_the_example_for_amd64_and_arm64() -> None:
    """With no input the pipeline builds the bundled example for both verified platforms."""
    s = load_settings({}, {})
    assert s.source == BUNDLED_EXAMPLE
    assert [str(p) for p in s.platforms] == ["linux/amd64", "linux/arm64"]
    assert s.node_major is None  # taken from the project
    assert s.base_for(22) == "node:22-bookworm-slim"
    assert s.node_options == "--max-old-space-size=2048"
    assert s.export_file("native-service") == Path("build/native-service.oci.tar")
    assert s.export_file("@acme/api") == Path("build/acme-api.oci.tar")


def test_flags_beat_env_beat_config_file(tmp_path: Path) -> None:
    """Precedence is flags > NODEPIPE_* environment > node-pipelines.toml > defaults."""
    src = write_config(tmp_path, 'node_major = 20\nport = 3000\ncache_namespace = "file"\n')
    env = {"NODEPIPE_PORT": "4000", "NODEPIPE_CACHE_NAMESPACE": "env"}
    s = load_settings({"source": str(src), "cache_namespace": "flag"}, env)
    assert (s.node_major, s.port, s.cache_namespace) == (20, 4000, "flag")


def test_source_from_env_selects_its_config_file(tmp_path: Path) -> None:
    """The config file is read from the source given by the environment too."""
    src = write_config(tmp_path, 'node_major = 24\n')
    assert load_settings({}, {"NODEPIPE_SOURCE": str(src)}).node_major == 24


def test_platform_lists_parse_from_env_and_normalise() -> None:
    """Comma lists work in env vars; aarch64 and arm64/v8 normalise to linux/arm64."""
    s = load_settings({}, {"NODEPIPE_PLATFORMS": "linux/aarch64, linux/x86_64"})
    assert s.platforms == (Platform("linux", "arm64"), Platform("linux", "amd64"))
    assert Platform.parse("linux/arm64/v8") == Platform("linux", "arm64")


@pytest.mark.parametrize(
    ("flags", "env", "wanted"),
    [
        ({"platforms": "linux/s390x"}, {}, "pass --allow-unsupported-platforms"),
        ({"platforms": "windows/amd64"}, {}, "is not a Linux platform"),
        ({"platforms": "linux"}, {}, "is not of the form os/arch"),
        ({"platforms": "linux/amd64,linux/x86_64"}, {}, "listed twice"),
        ({"publish": True}, {}, "publishing needs an image reference"),
        ({}, {"NODEPIPE_PORT": "eighty"}, "setting port (NODEPIPE_PORT)"),
        ({}, {"NODEPIPE_LOG_FORMAT": "xml"}, "setting log_format"),
        ({"bogus": 1}, {}, "unknown setting 'bogus'"),
        ({"image": "localhost:5000/Svc"}, {}, "invalid image reference"),
        ({"image": "localhost:5000/svc:1"}, {}, "pass the repository as --image"),
        ({"image": "localhost:5000/svc", "tags": "ok,-bad"}, {}, "invalid tag '-bad'"),
        ({"registry_username": "ci"}, {}, "the registry password is missing"),
        ({}, {"NODEPIPE_REGISTRY_PASSWORD": "x"}, "the registry username is missing"),
    ],
)
def test_invalid_input_is_one_sentence(flags: dict, env: dict, wanted: str) -> None:
    """Each invalid input raises an InputError (exit 2) whose message says what to do."""
    with pytest.raises(InputError) as caught:
        load_settings(flags, env)
    assert wanted in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_unsupported_platform_with_opt_in_is_accepted() -> None:
    """Other platforms build after an explicit opt-in."""
    flags = {"platforms": "linux/amd64,linux/s390x", "allow_unsupported_platforms": True}
    s = load_settings(flags, {})
    assert [str(p) for p in s.unsupported_platforms] == ["linux/s390x"]


def test_bad_config_file_is_one_sentence(tmp_path: Path) -> None:
    """A config file that is not TOML, or names an unknown key, is reported with its path."""
    write_config(tmp_path, "node_major = [")
    with pytest.raises(InputError, match="is not valid TOML"):
        load_settings({"source": str(tmp_path)}, {})
    write_config(tmp_path, "colour = 'blue'\n")
    with pytest.raises(InputError, match="unknown setting colour"):
        load_settings({"source": str(tmp_path)}, {})


def test_unreadable_config_file(tmp_path: Path) -> None:
    """An unreadable config file is an input error naming the file."""
    path = write_config(tmp_path, "port = 1\n") / "node-pipelines.toml"
    path.unlink()
    path.mkdir()  # a directory where the file should be: reading fails for root too
    with pytest.raises(InputError, match="cannot read"):
        load_settings({"source": str(tmp_path)}, {})


def test_password_never_shows() -> None:
    """The registry password is a secret: masked in repr, str and the public view."""
    s = load_settings({"registry_username": "ci"}, {"NODEPIPE_REGISTRY_PASSWORD": "hunter2-secret"})
    assert s.registry_password.get_secret_value() == "hunter2-secret"
    for text in (repr(s), str(s), str(public_view(s))):
        assert "hunter2-secret" not in text


def test_musl_base_image_is_detected() -> None:
    """alpine base images are musl; Debian ones glibc."""
    assert load_settings({"base_image": "node:22-alpine"}, {}).libc == "musl"
    assert Settings().libc == "glibc"
