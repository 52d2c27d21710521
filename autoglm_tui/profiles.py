"""Config profiles: long options from ``~/.config/autoglm-tui/config.toml``, generically.

The file holds ``[profile.NAME]`` tables whose keys are long option names without the dashes
(``etcd``, ``ssh-user``, ``prometheus``, ``theme``, ``interval``...; ``ssh_user`` works too),
an optional ``[profile.NAME.COMMAND]`` sub-table for values that only one command takes, and
an optional top-level ``default = "NAME"``. Nothing here knows any option: a key is checked
and converted by the argparse action of the command being run (its type, choices, nargs,
append), so an option added anywhere works in profiles with no extra code.

Precedence: command line > profile > the option's default. A list option given on the
command line replaces the profile's list. Errors name the file and line. Secrets never live
here: a key that looks like one (password, token, secret) is refused unless it names a file
(``-file``) or an environment variable (``-env``).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoglm_tui.paths import config_dir

CONFIG_ENV = "AUTOGLM_TUI_CONFIG"  # another config file (tests, several set-ups)
_SECRET = re.compile(r"(password|passwd|passphrase|token|secret|api-key|apikey)", re.I)
_PATHISH = re.compile(r"FILE|PATH|DIR", re.I)
_UNSET = object()


class ProfileError(ValueError):
    """A config file or profile that cannot be used; the message names file and line."""


def config_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    override = env.get(CONFIG_ENV)
    return Path(override).expanduser() if override else config_dir(env) / "config.toml"


@dataclass
class Origin:
    """Where an option's value came from."""

    kind: str  # "default", "profile", "command line"
    where: str = ""  # "prod (~/.config/autoglm-tui/config.toml:12)"

    def __str__(self) -> str:
        return f"{self.kind} {self.where}".strip()


@dataclass
class ConfigFile:
    path: Path
    text: str
    data: dict[str, Any]
    default: str | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)

    def line_of(self, table: str, key: str | None = None) -> int | None:
        """The line of `key` in `[table]` (or of the table header) in the file."""
        current = ""
        header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
        for number, line in enumerate(self.text.splitlines(), start=1):
            m = header.match(line)
            if m:
                current = re.sub(r"\s*\.\s*", ".", m.group(1)).replace('"', "")
                if current == (table if key is None else f"{table}.{key}"):
                    return number
                continue
            if key is not None and current == table and re.match(
                    rf'^\s*"?{re.escape(key)}"?\s*=', line):
                return number
        return None

    def where(self, table: str, key: str | None = None) -> str:
        line = self.line_of(table, key)
        return f"{self.path}:{line}" if line else str(self.path)


def load(path: Path) -> ConfigFile | None:
    """The parsed file, None when it does not exist; ProfileError for a bad one."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise ProfileError(f"{where}: not valid TOML: {exc}") from None
    cfg = ConfigFile(path, text, data)
    for key, value in data.items():
        if key == "default":
            if not isinstance(value, str):
                raise ProfileError(f"{cfg.where('', 'default')}: default must be a profile "
                                   "name (a string)")
            cfg.default = value
        elif key == "profile":
            if not isinstance(value, dict):
                raise ProfileError(f"{cfg.where('', 'profile')}: use [profile.NAME] tables")
            for name, table in value.items():
                if not isinstance(table, dict):
                    raise ProfileError(f"{cfg.where('profile', name)}: profile {name!r} must "
                                       f"be a table: [profile.{name}]")
                cfg.profiles[name] = table
        else:
            raise ProfileError(f"{cfg.where('', key)}: unknown top-level key {key!r} (want "
                               "default = \"NAME\" and [profile.NAME] tables)")
    if cfg.default is not None and cfg.default not in cfg.profiles:
        raise ProfileError(f"{cfg.where('', 'default')}: default profile {cfg.default!r} is "
                           f"not defined ({_names(cfg)})")
    return cfg


def _names(cfg: ConfigFile) -> str:
    return "profiles: " + (", ".join(sorted(cfg.profiles)) or "none")


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def profiled(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The commands that take --profile."""
    return {name: sub for name, sub in subparsers(parser).items()
            if any(a.dest == "profile" for a in sub._actions)}


def long_options(sub: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """'ssh-user' -> its action, for every --long option of one command (not help/profile)."""
    out: dict[str, argparse.Action] = {}
    for action in sub._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        for opt in action.option_strings:
            if opt.startswith("--") and action.dest != "profile":
                out[opt[2:]] = action
    return out


@dataclass
class Resolved:
    """The options in force for one command, and where each came from."""

    args: argparse.Namespace
    origins: dict[str, Origin]  # dest -> origin
    profile: str | None
    file: Path


def resolve(parser: argparse.ArgumentParser, command: str, argv: list[str],
            args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Resolved:
    """Apply the profile in force (``--profile``, else the file's default) to `args`, which
    argparse made from `argv` (the command's own arguments); command-line values win."""
    path = config_file(env)
    cfg = load(path)
    chosen = getattr(args, "profile", None)
    origins = {dest: Origin("default") for dest in _dests(subparsers(parser)[command])}
    given = given_dests(subparsers(parser)[command], argv)
    for dest in given:
        origins[dest] = Origin("command line")
    if cfg is None:
        if chosen:
            raise ProfileError(f"--profile {chosen}: there is no config file at {path}")
        return Resolved(args, origins, None, path)
    name = chosen or cfg.default
    if name is None:
        check_file(parser, cfg)
        return Resolved(args, origins, None, path)
    if name not in cfg.profiles:
        raise ProfileError(f"--profile {name}: no such profile in {path} ({_names(cfg)})")
    check_file(parser, cfg)
    table = dict(cfg.profiles[name])
    tables = {f"profile.{name}": {k: v for k, v in table.items() if not isinstance(v, dict)}}
    if isinstance(table.get(command), dict):
        tables[f"profile.{name}.{command}"] = table[command]
    sub = subparsers(parser)[command]
    options = long_options(sub)
    for tname, values in tables.items():
        for key, value in values.items():
            action = options.get(key.replace("_", "-"))
            if action is None or action.dest in given:
                continue  # not an option of this command, or the command line says it
            where = cfg.where(tname, key)
            setattr(args, action.dest, convert(sub, action, key, value, where))
            origins[action.dest] = Origin("profile", f"{name} ({where})")
    return Resolved(args, origins, name, path)


def _dests(sub: argparse.ArgumentParser) -> list[str]:
    return [a.dest for a in sub._actions
            if a.option_strings and not isinstance(a, (argparse._HelpAction,
                                                       argparse._VersionAction))]


def given_dests(sub: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """Which options the command line sets (parsing it again over a sentinel namespace)."""
    lists = (argparse._AppendAction, argparse._ExtendAction, argparse._CountAction,
             argparse._AppendConstAction)
    probe = argparse.Namespace(**{a.dest: None if isinstance(a, lists) else _UNSET
                                  for a in sub._actions if a.dest is not argparse.SUPPRESS})
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()):
        try:
            sub.parse_known_args(argv, namespace=probe)
        except SystemExit:
            return set()
    return {dest for dest, value in vars(probe).items()
            if value is not _UNSET and value is not None}


def convert(sub: argparse.ArgumentParser, action: argparse.Action, key: str, value: Any,
            where: str) -> Any:
    """`value` from the file, through `action` as if it had been typed; ProfileError if bad."""
    opt = next((o for o in action.option_strings if o.startswith("--")), key)
    ns = argparse.Namespace()
    is_list = isinstance(action, (argparse._AppendAction, argparse._ExtendAction))
    setattr(ns, action.dest, [] if is_list else action.default)
    try:
        if action.nargs == 0:  # a switch: true applies it, false leaves the default
            if not isinstance(value, bool):
                raise ProfileError(f"{where}: {key} is a switch: write true or false")
            if value:
                action(sub, ns, [], opt)
            elif isinstance(action, argparse.BooleanOptionalAction):
                action(sub, ns, [], "--no-" + opt[2:])
            return getattr(ns, action.dest)
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, (dict, list)) for v in items):
            raise ProfileError(f"{where}: {key}: want a value or a list of values")
        strings = [_text(v, action) for v in items]
        if is_list:
            for s in strings:
                action(sub, ns, sub._get_values(action, [s]), opt)
        elif action.nargs in ("+", "*") or isinstance(action.nargs, int):
            action(sub, ns, sub._get_values(action, strings), opt)
        else:
            if len(strings) != 1:
                raise ProfileError(f"{where}: {key} takes one value, not a list")
            action(sub, ns, sub._get_values(action, strings), opt)
    except argparse.ArgumentError as exc:
        raise ProfileError(f"{where}: {key}: {exc.message}") from None
    return getattr(ns, action.dest)


def _text(value: Any, action: argparse.Action) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and text.startswith("~") and _PATHISH.search(
            str(action.metavar or "")):
        text = os.path.expanduser(text)
    return text


def check_file(parser: argparse.ArgumentParser, cfg: ConfigFile) -> None:
    """Every key is an option of some command, and no key holds a secret."""
    commands = profiled(parser)
    known: dict[str, list[str]] = {}
    for cname, sub in commands.items():
        for key in long_options(sub):
            known.setdefault(key, []).append(cname)
    for name, table in cfg.profiles.items():
        for key, value in table.items():
            tname = f"profile.{name}"
            if isinstance(value, dict):
                if key not in commands:
                    raise ProfileError(f"{cfg.where(tname, key)}: [{tname}.{key}]: no command "
                                       f"called {key!r}")
                _check_keys(cfg, f"{tname}.{key}", value, set(long_options(commands[key])))
                continue
            _check_keys(cfg, tname, {key: value}, set(known))


def _check_keys(cfg: ConfigFile, table: str, values: dict[str, Any], known: set[str]) -> None:
    for key in values:
        norm = key.replace("_", "-")
        where = cfg.where(table, key)
        if _SECRET.search(norm) and not norm.endswith(("-file", "-env")):
            raise ProfileError(f"{where}: {key}: secrets are never kept in the config file; "
                               f"name a file or an environment variable instead "
                               f"({norm}-file / {norm}-env, where the option exists)")
        if norm in ("profile", "help", "version"):
            raise ProfileError(f"{where}: {key} cannot be set in a profile")
        if norm not in known:
            close = difflib.get_close_matches(norm, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ProfileError(f"{where}: unknown option {key!r}{hint}")


def apply_to_command_line(parser: argparse.ArgumentParser, argv: list[str],
                          args: argparse.Namespace) -> argparse.Namespace:
    """What cli.main calls: `args` with the profile applied; exits 2 with the error."""
    command = args.command
    if command not in subparsers(parser) or not hasattr(args, "profile"):
        return args  # a command without --profile (the sampler, config itself)
    try:
        return resolve(parser, command, argv[1:], args).args
    except ProfileError as exc:
        print(f"autoglm-tui: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
