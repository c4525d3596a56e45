"""Fetch a package from another Debian suite into a private cache folder.

Nothing is installed system-wide: a private apt state per suite (its own
sources list, lists and archives) is used for ``apt-get download`` and the
``.deb`` is unpacked with ``dpkg-deb -x``.  The archive URI is read from the
machine's own apt configuration, so no mirror host name lives in this package.
:func:`etcd3.testing.server.ensure_etcd` uses it to fetch the Debian builds of
the test matrix (also from an installed etcd3-py: no source checkout needed).

Usage::

    root = fetch("bullseye", "etcd-server", "3.3.25*", cache)   # -> unpacked folder

or from the shell: ``python3 -m etcd3.testing.fetch SUITE PACKAGE [VERSION] [CACHE]``.
"""
from __future__ import annotations

import fnmatch
import glob
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def default_cache() -> Path:
    """``$ETCD3_CACHE/debs`` when ETCD3_CACHE is set, else ``~/.cache/etcd3-py/debs``."""
    env = os.environ.get("ETCD3_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "etcd3-py") / "debs"


def debian_archive_uri() -> str:
    """The URI of the machine's main Debian archive (not its security archive)."""
    candidates = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            for stanza in f.read().split("\n\n"):
                fields = dict(
                    line.split(":", 1) for line in stanza.splitlines()
                    if ":" in line and not line.lstrip().startswith("#")
                )
                fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
                if fields.get("types", "deb").split()[0] == "deb" and "uris" in fields:
                    candidates.extend(fields["uris"].split())
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
                    if m:
                        candidates.append(m.group(1))
    for uri in candidates:
        if "security" not in uri and "debian" in uri:
            return uri.rstrip("/")
    raise RuntimeError("no Debian archive URI found in the apt configuration")


def _apt_options(state: Path) -> list:
    return [
        "-o", f"Dir::Etc::SourceList={state / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=-",
        "-o", f"Dir::State={state / 'state'}",
        "-o", f"Dir::State::Lists={state / 'lists'}",
        "-o", f"Dir::Cache={state / 'cache'}",
        "-o", "Dir::State::status=/dev/null",
        "-o", "APT::Get::List-Cleanup=0",
        "-o", "Debug::NoLocking=1",
        "-o", "APT::Sandbox::User=root",  # the cache belongs to root; no _apt sandbox warning
        "-q",
    ]


def _prepare(suite: str, cache: Path) -> Path:
    state = cache / "apt" / suite
    for sub in ("lists/partial", "cache/archives/partial", "state"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    sources = state / "sources.list"
    line = f"deb [signed-by={KEYRING}] {debian_archive_uri()} {suite} main\n"
    if not sources.exists() or sources.read_text() != line:
        sources.write_text(line)
    if not any((state / "lists").glob("*Packages*")):
        subprocess.run(["apt-get", *_apt_options(state), "update"], check=True,
                       stdout=sys.stderr)
    return state


def available_versions(suite: str, package: str, cache: Optional[Path] = None) -> list:
    state = _prepare(suite, Path(cache) if cache else default_cache())
    out = subprocess.run(["apt-cache", *_apt_options(state), "madison", package],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("|")[1].strip() for line in out.splitlines() if "|" in line]


def fetch(suite: str, package: str, version: str = "*", cache: Optional[Path] = None) -> Path:
    """Download ``package`` (a version matching the glob ``version``) from ``suite``
    and unpack it; returns the folder it was unpacked into."""
    cache = Path(cache) if cache else default_cache()
    done = sorted((cache / "root" / suite).glob(f"{package}_*"))
    done = [d for d in done if fnmatch.fnmatch(d.name.split("_", 1)[1], version) and (d / ".done").exists()]
    if done:
        return done[-1]
    state = _prepare(suite, cache)
    versions = [v for v in available_versions(suite, package, cache) if fnmatch.fnmatch(v, version)]
    if not versions:
        # the list may be stale: refresh once
        subprocess.run(["apt-get", *_apt_options(state), "update"], check=True, stdout=sys.stderr)
        versions = [v for v in available_versions(suite, package, cache) if fnmatch.fnmatch(v, version)]
    if not versions:
        raise RuntimeError(f"{package} {version} is not in Debian {suite}")
    chosen = versions[0]
    debs = cache / "debs" / suite
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", *_apt_options(state), "download", f"{package}={chosen}"],
                   check=True, cwd=debs, stdout=sys.stderr)
    # apt-get download names the file PACKAGE_VERSION_ARCH.deb with ':' quoted as %3a
    deb = sorted(debs.glob(f"{package}_{chosen.replace(':', '%3a')}_*.deb"))[-1]
    target = cache / "root" / suite / f"{package}_{chosen}"
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    (target / ".done").write_text(chosen + "\n")
    return target


def main(argv: list) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(fetch(argv[0], argv[1], argv[2] if len(argv) > 2 else "*",
                Path(argv[3]) if len(argv) > 3 else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
