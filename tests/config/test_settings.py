"""Settings: defaults, every variable, the config file, and a clear error for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline.config import VARIABLES, Settings, mask_password
from loopline.errors import ConfigError, ConfigWarning


def resolve(env: dict[str, str], tmp_path: Path) -> Settings:
    return Settings.from_env(env, cwd=tmp_path, user_home=tmp_path / "user")


def test_unset_uri_is_the_embedded_store_in_the_user_home(tmp_path: Path) -> None:
    s = resolve({}, tmp_path)
    assert s.mode == "local"
    assert s.home == tmp_path / "user" / ".loopline"
    assert s.db_url == f"sqlite:///{tmp_path / 'user' / '.loopline' / 'loopline.db'}"
    assert s.artifacts == str(tmp_path / "user" / ".loopline" / "blobs")
    assert s.auto_upgrade is True
    assert s.project == "default"


def test_a_project_folder_with_dot_loopline_is_used_before_the_user_home(tmp_path: Path) -> None:
    (tmp_path / ".loopline").mkdir()
    assert resolve({}, tmp_path).home == tmp_path / ".loopline"


def test_every_variable_is_read(tmp_path: Path) -> None:
    s = resolve(
        {
            "LOOPLINE_URI": "postgresql://me@db.internal:5433/ll",
            "LOOPLINE_HOME": "relhome",
            "LOOPLINE_ARTIFACTS": "s3://bucket/prefix/",
            "LOOPLINE_TOKEN": "tok",
            "LOOPLINE_PROJECT": "fraud",
            "LOOPLINE_AUTO_UPGRADE": "yes",
            "LOOPLINE_S3_ENDPOINT_URL": "http://127.0.0.1:18333",
            "LOOPLINE_S3_KEY": "k",
            "LOOPLINE_S3_SECRET": "s",
            "LOOPLINE_S3_REGION": "eu-west-1",
            "LOOPLINE_BLOB_FSYNC": "on",
            "LOOPLINE_HTTP_TIMEOUT": "2.5",
            "LOOPLINE_HTTP_RETRIES": "7",
        },
        tmp_path,
    )
    assert s.db_url == "postgresql+psycopg://me@db.internal:5433/ll"
    assert s.home == tmp_path / "relhome"
    assert s.artifacts == "s3://bucket/prefix"
    assert (s.token, s.project, s.auto_upgrade) == ("tok", "fraud", True)
    assert (s.s3_endpoint_url, s.s3_key, s.s3_secret, s.s3_region) == (
        "http://127.0.0.1:18333",
        "k",
        "s",
        "eu-west-1",
    )
    assert (s.blob_fsync, s.http_timeout, s.http_retries) == (True, 2.5, 7)
    assert "tok" not in repr(s), "secrets must not show in repr"
    assert "'s'" not in repr(s)


def test_postgres_does_not_migrate_itself_unless_asked(tmp_path: Path) -> None:
    assert resolve({"LOOPLINE_URI": "postgresql://u@h/db"}, tmp_path).auto_upgrade is False


def test_server_uri_selects_remote_mode(tmp_path: Path) -> None:
    s = resolve({"LOOPLINE_URI": "http://127.0.0.1:8765/"}, tmp_path)
    assert (s.mode, s.server_url, s.db_url) == ("remote", "http://127.0.0.1:8765", None)


def test_relative_sqlite_path_is_taken_from_the_working_folder(tmp_path: Path) -> None:
    s = resolve({"LOOPLINE_URI": "sqlite:///meta/ll.db"}, tmp_path)
    assert s.db_url == f"sqlite:///{tmp_path / 'meta' / 'll.db'}"


def test_config_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.toml").write_text(
        'project = "from-file"\nhttp_retries = 5\nblob_fsync = true\n'
    )
    s = resolve({"LOOPLINE_HOME": str(home), "LOOPLINE_HTTP_RETRIES": "9"}, tmp_path)
    assert (s.project, s.http_retries, s.blob_fsync) == ("from-file", 9, True)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LOOPLINE_URI": "mysql://x/y"}, ["LOOPLINE_URI", "unknown scheme", "postgresql://"]),
        ({"LOOPLINE_URI": "localhost:8765"}, ["LOOPLINE_URI", "no scheme"]),
        ({"LOOPLINE_URI": "sqlite://"}, ["LOOPLINE_URI", "file path"]),
        ({"LOOPLINE_URI": "sqlite:///:memory:"}, ["LOOPLINE_URI", "file path"]),
        ({"LOOPLINE_URI": "postgresql:///db"}, ["LOOPLINE_URI", "needs a host"]),
        ({"LOOPLINE_URI": "postgresql://h"}, ["LOOPLINE_URI", "database name"]),
        ({"LOOPLINE_URI": "http://h:99999"}, ["LOOPLINE_URI", "port"]),
        ({"LOOPLINE_URI": "https://"}, ["LOOPLINE_URI", "needs a host"]),
        ({"LOOPLINE_HTTP_RETRIES": "three"}, ["LOOPLINE_HTTP_RETRIES", "whole number"]),
        ({"LOOPLINE_HTTP_RETRIES": "0"}, ["LOOPLINE_HTTP_RETRIES", "at least 1"]),
        ({"LOOPLINE_HTTP_TIMEOUT": "nan"}, ["LOOPLINE_HTTP_TIMEOUT", "at least"]),
        ({"LOOPLINE_BLOB_FSYNC": "maybe"}, ["LOOPLINE_BLOB_FSYNC", "true/false"]),
        ({"LOOPLINE_S3_ENDPOINT_URL": "127.0.0.1:9000"}, ["LOOPLINE_S3_ENDPOINT_URL", "http"]),
        ({"LOOPLINE_ARTIFACTS": "s3://"}, ["LOOPLINE_ARTIFACTS", "s3://bucket"]),
        ({"LOOPLINE_PROJECT": "  "}, ["LOOPLINE_PROJECT", "empty"]),
        ({"LOOPLINE_CONFIG": "missing.toml"}, ["LOOPLINE_CONFIG", "no such file"]),
    ],
)
def test_bad_values_name_the_variable_and_the_expected_form(
    env: dict[str, str], names: list[str], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(env, tmp_path)
    message = str(info.value)
    assert "\n" not in message
    for fragment in names:
        assert fragment in message


def test_a_broken_config_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("uri = \n")
    with pytest.raises(ConfigError, match=r"c\.toml is not valid TOML"):
        resolve({"LOOPLINE_CONFIG": "c.toml"}, tmp_path)
    (tmp_path / "c.toml").write_text('ur1 = "x"\n')
    with pytest.raises(ConfigError, match="Did you mean 'uri'"):
        resolve({"LOOPLINE_CONFIG": "c.toml"}, tmp_path)


def test_an_unknown_variable_is_a_warning_with_the_closest_name(tmp_path: Path) -> None:
    # Not an error: a newer Loopline's variable in a shared environment must not stop this one.
    with pytest.warns(ConfigWarning, match="LOOPLINE_URL .* Did you mean 'LOOPLINE_URI'"):
        s = resolve({"LOOPLINE_URL": "http://x"}, tmp_path)
    assert s.mode == "local"


def test_home_cannot_be_set_in_the_config_file_it_is_found_through(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('home = "/elsewhere"\n')
    with pytest.raises(ConfigError, match="Set LOOPLINE_HOME in the environment"):
        resolve({"LOOPLINE_CONFIG": "c.toml"}, tmp_path)


def test_overrides_win_over_the_environment(tmp_path: Path) -> None:
    s = Settings.from_env(
        {"LOOPLINE_URI": "http://a:1"},
        overrides={"LOOPLINE_URI": "http://b:2", "LOOPLINE_PROJECT": None},
        cwd=tmp_path,
        user_home=tmp_path,
    )
    assert (s.server_url, s.project) == ("http://b:2", "default")


def test_the_database_password_never_shows(tmp_path: Path) -> None:
    s = resolve({"LOOPLINE_URI": "postgresql://bob:hunter2@db:5432/ll"}, tmp_path)
    assert "hunter2" not in repr(s)
    assert "bob:***@db:5432" in repr(s)
    assert mask_password("http://h:1/x") == "http://h:1/x"


def test_every_variable_is_documented() -> None:
    assert all(name.startswith("LOOPLINE_") and meaning for name, meaning in VARIABLES.items())


@given(st.text(max_size=80))
def test_any_uri_resolves_or_gives_a_config_error(raw: str) -> None:
    try:
        s = Settings.from_env({"LOOPLINE_URI": raw}, cwd=Path("/tmp"), user_home=Path("/tmp/u"))
    except ConfigError as exc:
        message = str(exc)
        assert "LOOPLINE_URI" in message
    else:
        assert s.mode in ("local", "remote")
