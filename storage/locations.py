"""Every path the program uses, in one place: config, data, cache, team store, themes.

Directories are made only when a path is asked for (never at import) and with mode 0700:
the cache holds customers' mail.
"""

from __future__ import annotations

import getpass
import os
import pwd
import socket
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import platformdirs

from helpdesk.core.config import (
    ConfigError,
    Settings,
    parse_agent,
    parse_config,
    with_agent,
)

__all__ = [
    "APP_NAME",
    "CONFIG_ENV",
    "CONFIG_FILE_NAME",
    "cache_path",
    "config_dir",
    "data_dir",
    "default_agent",
    "default_cache_path",
    "default_team_store_url",
    "find_config",
    "load_settings",
    "team_store_url",
    "themes_dir",
]

APP_NAME = "helpdesk"
CONFIG_FILE_NAME = "helpdesk.toml"
CONFIG_ENV = "HELPDESK_CONFIG"
AGENT_ENV = "HELPDESK_AGENT"


def _ensure_dir(path: Path) -> Path:
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``<XDG config dir>/helpdesk``; an ``XDG_CONFIG_HOME`` in ``env`` wins on XDG systems."""
    if env is not None and not sys.platform.startswith(("win", "darwin")):
        # platformdirs reads os.environ only; honour the mapping we were given the same way.
        xdg = env.get("XDG_CONFIG_HOME", "").strip()
        if xdg and os.path.isabs(xdg):
            return Path(xdg) / APP_NAME
        home = env.get("HOME", "").strip()
        if home and os.path.isabs(home) and not xdg:
            return Path(home) / ".config" / APP_NAME
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def find_config(cli_path: str | None, env: Mapping[str, str]) -> Path | None:
    """The config file to read: ``--config``, then ``$HELPDESK_CONFIG``, then the XDG default.

    A path given explicitly must exist; the XDG default may be absent (None: run on defaults).
    """
    for given, origin in ((cli_path, "--config"), (env.get(CONFIG_ENV), f"${CONFIG_ENV}")):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise ConfigError.single(
                    str(path),
                    "",
                    "an existing configuration file",
                    detail=f"no such file (given by {origin})",
                )
            return path
    default = config_dir(env) / CONFIG_FILE_NAME
    return default if default.is_file() else None


def default_agent() -> tuple[str, str]:
    """(full name, ``login@hostname``) of the OS user, for a config without ``[agent]``."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER: a bare container
        login = "agent"
    name = login
    try:
        gecos = pwd.getpwnam(login).pw_gecos
        full = gecos.split(",", 1)[0].strip()
        if full:
            name = full
    except KeyError:
        pass
    host = socket.gethostname() or "localhost"
    return name, f"{login}@{host}"


def load_settings(cli_path: str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Find, read and validate the configuration; apply ``$HELPDESK_AGENT``."""
    if env is None:
        env = os.environ
    path = find_config(cli_path, env)
    agent = default_agent()
    if path is None:
        settings = replace(parse_config("", "<defaults>", default_agent=agent), source=None)
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise ConfigError.single(
                str(path), "", "a readable UTF-8 file", detail=f"cannot read: {reason}"
            ) from None
        settings = parse_config(text, str(path), default_agent=agent)
    override = env.get(AGENT_ENV, "").strip()
    if override:
        name, email = parse_agent(override, f"${AGENT_ENV}")
        settings = with_agent(settings, name, email)
    return settings


def data_dir() -> Path:
    """``<user data dir>/helpdesk``, made on first use."""
    return _ensure_dir(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)))


def default_cache_path() -> Path:
    return data_dir() / "cache.sqlite"


def default_team_store_url() -> str:
    return f"sqlite:///{data_dir() / 'team.sqlite'}"


def _resolve(path_text: str, settings: Settings) -> Path:
    """Expand ``~``; a relative path is taken from the config file's folder, not the cwd."""
    path = Path(path_text).expanduser()
    if not path.is_absolute() and settings.source is not None:
        path = Path(settings.source).parent / path
    return path


def cache_path(settings: Settings) -> Path:
    """The local cache file; its folder is made (0700) if missing."""
    if settings.cache.path is None:
        return default_cache_path()
    path = _resolve(settings.cache.path, settings)
    _ensure_dir(path.parent)
    return path


def team_store_url(settings: Settings) -> str:
    """The team store's SQLAlchemy URL; SQLite paths get ``~`` expanded and folders made."""
    url = settings.team.store
    if url is None:
        return default_team_store_url()
    prefix = "sqlite:///"
    if url.startswith(prefix):
        rest = url[len(prefix) :]
        file_part, sep, query = rest.partition("?")
        if file_part and file_part != ":memory:":
            path = _resolve(file_part, settings)
            _ensure_dir(path.parent)
            return f"{prefix}{path}{sep}{query}"
    return url


def themes_dir(*, create: bool = False) -> Path:
    """Where users put their own theme files (``<config dir>/helpdesk/themes``)."""
    path = config_dir() / "themes"
    return _ensure_dir(path) if create else path
