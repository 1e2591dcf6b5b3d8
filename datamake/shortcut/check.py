"""The up-to-date certificate of a ``make`` command line, and its check: what the launcher runs before
anything else of datamake is imported (standard library and xxhash only).

A certificate is written after a ``make`` whose whole scope is fresh at its end: it found it so, or
built what was stale (see :mod:`datamake.shortcut.record`). It holds the command's *key* (its
arguments, folder, project file, interpreter, datamake's version and location, and a digest of the
whole environment) and the *files* the full path's answer depends on: each with the stat it had,
and for the project's own sources and config files the digest of their content too (and for the
store files a run wrote, see :func:`files_hold`). The next identical command whose every
file still has its recorded stat (or, for a file with a digest, the same content) gets the same
answer without loading the project; any difference, or any doubt, sends it down the full path.
"""
from __future__ import annotations

import os
import sys
import time
from datamake._paths import cache_dir, nearest_config

FORMAT = 2
RACY_NS = 2_000_000_000  # a file changed this shortly before it was looked at may change again unseen
# Shell bookkeeping that changes between two identical commands and that no program reads for data,
# and the switch that turns the shortcut off (checked on its own).
VOLATILE_ENV = ("_", "OLDPWD", "SHLVL", "DATAMAKE_NO_SHORTCUT")
_START_PATH = list(sys.path)  # before the project is loaded (which may add its folder)
launched: "list[str] | None" = None  # the arguments, when this process was started by the launcher


def disabled() -> bool:
    """``DATAMAKE_NO_SHORTCUT=1`` (any value but empty or 0): always take the full path; so does a run
    given ``DATAMAKE_RUN_TAGS`` (a launcher that tags its runs wants them in the event log)."""
    return os.environ.get("DATAMAKE_NO_SHORTCUT", "") not in ("", "0") or bool(os.environ.get("DATAMAKE_RUN_TAGS"))


def make_at(argv: list) -> "tuple[str, int] | None":
    """(the folder given by ``-C``/``--project``, else ".", and the index of ``make``) of a
    ``datamake [-C DIR] make ...`` command line; None for any other command line."""
    start, i = ".", 0
    while i < len(argv) and argv[i] != "make":
        arg = argv[i]
        if arg in ("-C", "--project") and i + 1 < len(argv):
            start, i = argv[i + 1], i + 2
        elif arg.startswith("--project="):
            start, i = arg[len("--project="):], i + 1
        else:
            return None
    return (start, i) if i < len(argv) else None


def project_of(argv: list) -> str | None:
    """The ``datamake.toml`` a ``datamake [-C DIR] make ...`` command line works on (None: not such a
    command line, or no project file)."""
    found = make_at(argv)
    return nearest_config(found[0]) if found is not None else None


def key(argv: list, config: str) -> dict:
    """Everything about the command and its process that the answer may depend on, besides files."""
    import xxhash  # lazy: only once a project file was found

    env = "\0".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k not in VOLATILE_ENV)
    from datamake._version import __version__

    # (a command runs in its project's folder, wherever it was started: not keyed by the folder it was started in)
    return {"format": FORMAT, "argv": list(argv), "config": config,
            "python": [sys.executable, sys.version, repr(sys.flags), _START_PATH],
            "datamake": [__version__, os.path.dirname(os.path.dirname(os.path.abspath(__file__)))],
            "env": xxhash.xxh3_128_hexdigest(env.encode("utf-8", "surrogateescape"))}


def certificate_path(argv: list, config: str) -> str:
    """Where the certificate of this command line in this folder lives (a machine-local cache)."""
    import json  # lazy: every other command starts here too
    import xxhash  # lazy: only once a project file was found

    name = xxhash.xxh3_64_hexdigest(json.dumps([config, list(argv)]).encode("utf-8", "surrogateescape"))
    return os.path.join(cache_dir(), "uptodate", f"{name}.json")


def valid_certificate(argv: list) -> dict | None:
    """The certificate of ``argv`` when every fact it records still holds; None on any doubt."""
    if disabled():
        return None
    config = project_of(argv)
    if config is None:
        return None
    import json  # lazy: every other command starts here too

    try:
        with open(certificate_path(argv, config), "rb") as f:
            cert = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(cert, dict) or cert.get("key") != key(argv, config):
        return None
    try:
        return cert if files_hold(cert["files"], cert["missing"]) and not locked(cert["lock"]) else None
    except (KeyError, TypeError, ValueError):  # a certificate of another shape: not trusted
        return None


def locked(path: str) -> bool:
    """Whether a ``make`` holds the store's lock (file ``path``): the full path then waits for it and
    plans what it left."""
    try:
        import fcntl  # lazy: POSIX only (elsewhere nothing is ever certified: a local store needs fcntl)

        fd = os.open(path, os.O_RDONLY)
    except (ImportError, OSError):
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # (closing it releases the shared lock)


def files_hold(files: dict, missing: list) -> bool:
    """Each ``[name, size, mtime_ns, inode, ctime_ns, digest]`` under its folder still has that stat
    or, failing that, when it has a digest, that content (a folder's: its listing); each missing path
    is still missing. A digest marked ``=`` (a store file the run wrote) also needs the same size and
    modification time (the store orders versions by it); one marked ``!`` (a file or folder that
    changed within a clock tick of being recorded: a later change may leave its stat as it was) has
    its content compared every time, whatever its stat."""
    stat = os.stat
    for folder, entries in files.items():
        for name, size, mtime_ns, ino, ctime_ns, digest in entries:
            path = os.path.join(folder, name) if name else folder
            try:
                st = stat(path)
            except OSError:
                return False
            mark = digest[0] if digest else ""
            if mark in ("=", "!"):
                digest = digest[1:]
                if not digest.startswith("ls:") and (st.st_size != size or st.st_mtime_ns != mtime_ns):
                    return False
            if mark != "!" and st.st_ctime_ns == ctime_ns and st.st_mtime_ns == mtime_ns and st.st_size == size \
                    and st.st_ino == ino:
                continue
            if digest is None or (listing_digest(path) if digest.startswith("ls:") else file_digest(path)) != digest:
                return False
    for path in missing:
        try:
            stat(path)
            return False
        except OSError:
            continue
    return True


def file_digest(path: str) -> str | None:
    """xxh3-128 of a file's bytes (None when it cannot be read)."""
    import xxhash  # lazy: only a file whose stat moved is hashed

    try:
        with open(path, "rb") as f:
            return xxhash.xxh3_128_hexdigest(f.read())
    except OSError:
        return None


def listing_digest(path: str) -> "str | None":
    """``ls:`` and the xxh3-128 of a folder's sorted entry names (None when it cannot be listed)."""
    import xxhash  # lazy: only a folder whose stat moved is listed

    try:
        names = sorted(os.listdir(path))
    except OSError:
        return None
    return "ls:" + xxhash.xxh3_128_hexdigest("\0".join(names).encode("utf-8", "surrogateescape"))


def answer(argv: list) -> bool:
    """Print what the full ``make`` would print when ``argv``'s certificate holds and return True;
    return False (having printed nothing) otherwise."""
    global launched
    launched = list(argv)
    started = time.perf_counter()
    cert = valid_certificate(argv)
    if cert is None:
        return False
    from datamake.core.textout import json_text, new_run_id, summary_text

    out, run_id = cert["output"], new_run_id()
    if out["json"]:
        sys.stdout.write(json_text({"run_id": run_id, "ok": True, "assets": out["assets"]}) + "\n")
        return True
    if out["verbose"]:
        sys.stderr.write(f"datamake: nothing changed since the make of {time.ctime(cert['written_ns'] / 1e9)}: "
                         f"up to date without loading the project (DATAMAKE_NO_SHORTCUT=1 turns this off)\n")
        sys.stdout.write("".join(f"skipped  {a['key']}\n" for a in out["assets"]))
    if not out["quiet"]:
        counts = {"built": 0, "cached": 0, "skipped": out["count"]}
        sys.stdout.write(summary_text("done", counts, time.perf_counter() - started, run_id) + "\n")
    return True
