"""Running ``etcd3`` and etcdctl 3.5.1 side by side on one server (for tests/cli/)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from etcd3.testing.server import find_etcd


def etcdctl_path() -> Path:
    return find_etcd("3.5.1").parent / "etcdctl"


def run_tool(tool: str, server, args: List[str], stdin: Optional[bytes] = None,
             env: Optional[Dict[str, str]] = None, timeout: float = 30) -> Tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of ``etcd3`` (tool "py") or etcdctl 3.5.1 (tool "go")."""
    command = [sys.executable, "-m", "etcd3"] if tool == "py" else [str(etcdctl_path())]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    full_env.update(env or {})
    endpoint = ["--endpoints", server.endpoint] if server is not None else []
    proc = subprocess.run(command + endpoint + args, input=stdin or b"",
                          capture_output=True, env=full_env, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


REVISION_FIELDS = re.compile(rb'("(?:revision|create_revision|mod_revision|\w*Revision)"\s*:\s*)\d+')


def mask_revisions(data: bytes) -> bytes:
    return REVISION_FIELDS.sub(rb"\1N", data)
