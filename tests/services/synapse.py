"""A real Synapse homeserver for the Matrix tests.

Synapse is installed from PyPI into its own venv (``var/synapse-venv``), pinned by
``synapse-constraints.txt`` beside this file, and run as a subprocess on 127.0.0.1 with
SQLite storage, federation off and every ``rc_*`` rate limit raised so tests never see 429.

To move to another Synapse release, regenerate the pin (then commit the file)::

    .venv/bin/python -m tests.services.synapse --pin 1.163.2
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

CONSTRAINTS = Path(__file__).with_name("synapse-constraints.txt")
SERVER_NAME = "localhost"
VENV_NAME = "synapse-venv"
MARKER_NAME = ".duban-installed"
PIP_TIMEOUT = 900.0
LOG_TAIL_LINES = 60

# Unknown keys are ignored by Synapse, so names from other releases do no harm.
_UNLIMITED = {"per_second": 100_000, "burst_count": 1_000_000}
_RATE_LIMITS: dict[str, object] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_registration_token_validity": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_admin_redaction": _UNLIMITED,
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_3pid_validation": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_third_party_invite": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_profile": _UNLIMITED,
}


class SynapseUnavailable(RuntimeError):
    """Synapse could not be installed, started or asked to do something."""


def _child_env() -> dict[str, str]:
    """The environment for Synapse's processes: none of our venv, no proxy for loopback."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    }
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


def _run(args: list[str | Path], *, timeout: float, what: str) -> str:
    try:
        done = subprocess.run(
            [str(arg) for arg in args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SynapseUnavailable(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-LOG_TAIL_LINES:]
        raise SynapseUnavailable(f"{what} exited {done.returncode}:\n" + "\n".join(output))
    return done.stdout


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise installs between processes sharing the same ``var/``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install_fingerprint() -> str:
    digest = hashlib.sha256(CONSTRAINTS.read_bytes())
    digest.update(f"python {sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()


def _create_venv(venv: Path) -> Path:
    shutil.rmtree(venv, ignore_errors=True)
    _run([sys.executable, "-m", "venv", venv], timeout=120, what="python -m venv")
    return venv / "bin"


def _pip_install(bin_dir: Path, *requirements: str | Path) -> None:
    _run(
        [
            bin_dir / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            *requirements,
        ],
        timeout=PIP_TIMEOUT,
        what="pip install " + " ".join(str(r) for r in requirements),
    )


def ensure_synapse_venv(root: Path) -> Path:
    """Install the pinned Synapse into ``root/synapse-venv`` if needed; return its bin dir.

    A marker file holds the hash of the constraints file (and the Python minor version);
    when it matches, this returns at once. When it does not, the venv is rebuilt from
    scratch so no package of an older pin is left behind.
    """
    venv = root / VENV_NAME
    bin_dir = venv / "bin"
    marker = venv / MARKER_NAME
    if not CONSTRAINTS.is_file():
        raise SynapseUnavailable(
            f"missing {CONSTRAINTS}: run python -m tests.services.synapse --pin VERSION"
        )
    fingerprint = _install_fingerprint()
    with _locked(root / f"{VENV_NAME}.lock"):
        if _marker_matches(marker, fingerprint) and (bin_dir / "python").exists():
            return bin_dir
        started = time.monotonic()
        logger.info("installing Synapse into %s", venv)
        bin_dir = _create_venv(venv)
        _pip_install(bin_dir, "-c", CONSTRAINTS, "matrix-synapse")
        marker.write_text(fingerprint + "\n")
        logger.info("installed Synapse in %.1f s", time.monotonic() - started)
    return bin_dir


def _marker_matches(marker: Path, fingerprint: str) -> bool:
    try:
        return marker.read_text().strip() == fingerprint
    except FileNotFoundError:
        return False


def pin_synapse(root: Path, version: str) -> Path:
    """Install ``matrix-synapse==version`` unconstrained and freeze it into CONSTRAINTS."""
    with _locked(root / f"{VENV_NAME}.lock"):
        bin_dir = _create_venv(root / VENV_NAME)
        _pip_install(bin_dir, f"matrix-synapse=={version}")
        frozen = _run([bin_dir / "python", "-m", "pip", "freeze"], timeout=120, what="pip freeze")
        header = (
            f"# Synapse for the Matrix tests: pip freeze of matrix-synapse=={version}.\n"
            "# Regenerate with: .venv/bin/python -m tests.services.synapse --pin VERSION\n"
        )
        CONSTRAINTS.write_text(header + frozen)
        (root / VENV_NAME / MARKER_NAME).write_text(_install_fingerprint() + "\n")
    return CONSTRAINTS


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _signing_key() -> str:
    """An ed25519 signing key line as signedjson writes it: the seed is 32 random bytes."""
    seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"ed25519 a_{secrets.token_hex(2)} {seed}\n"


class SynapseServer:
    """One Synapse process with its config, SQLite database, media and log in ``workdir``."""

    server_name = SERVER_NAME

    def __init__(self, bin_dir: Path, workdir: Path, *, startup_timeout: float = 90.0):
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.startup_timeout = startup_timeout
        self.shared_secret = secrets.token_hex(32)
        self.port = 0
        self.config_path = workdir / "homeserver.yaml"
        self.log_path = workdir / "homeserver.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def mxid(self, username: str) -> str:
        return f"@{username}:{self.server_name}"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        key_path = self.workdir / f"{self.server_name}.signing.key"
        if not key_path.exists():
            key_path.write_text(_signing_key())
        config = {
            "server_name": self.server_name,
            "public_baseurl": f"{self.url}/",
            "pid_file": str(self.workdir / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(self.workdir / "homeserver.db")},
            },
            "media_store_path": str(self.workdir / "media_store"),
            "signing_key_path": str(key_path),
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": secrets.token_urlsafe(32),
            "form_secret": secrets.token_urlsafe(32),
            "enable_registration": False,
            "report_stats": False,
            "enable_metrics": False,
            "federation_domain_whitelist": [],
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            **_RATE_LIMITS,
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.config_path

    def start(self, *, attempts: int = 3) -> None:
        """Start Synapse on a free port; retry on another port if someone took it first."""
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            self.write_config()
            try:
                self._start_once()
                return
            except SynapseUnavailable:
                if attempt == attempts or "Address already in use" not in self.log_tail():
                    raise
                logger.warning("port %d was taken, retrying", self.port)

    def _start_once(self) -> None:
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    str(self.bin_dir / "python"),
                    "-m",
                    "synapse.app.homeserver",
                    "-c",
                    str(self.config_path),
                ],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
            )
        deadline = started + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise SynapseUnavailable(self._failure("exited during startup"))
            if self._answers():
                logger.info("Synapse up at %s in %.1f s", self.url, time.monotonic() - started)
                return
            time.sleep(0.2)
        self.stop()
        raise SynapseUnavailable(self._failure(f"did not answer in {self.startup_timeout:.0f} s"))

    def _answers(self) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{self.url}/_matrix/client/versions", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _failure(self, what: str) -> str:
        return f"Synapse {what} (log {self.log_path}):\n{self.log_tail()}"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("Synapse ignored SIGTERM for %.0f s, killing it", timeout)
            process.kill()
            process.wait(timeout=timeout)

    def register_user(self, username: str, password: str, admin: bool = False) -> str:
        """Create a user with ``register_new_matrix_user`` and the shared secret -> MXID."""
        _run(
            [
                self.bin_dir / "register_new_matrix_user",
                # "--opt=value", so a value starting with "-" is not read as an option
                f"--user={username}",
                f"--password={password}",
                "--admin" if admin else "--no-admin",
                f"--shared-secret={self.shared_secret}",
                self.url,
            ],
            timeout=60,
            what=f"register_new_matrix_user {username}",
        )
        return self.mxid(username)

    def __enter__(self) -> SynapseServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def repo_var() -> Path:
    return Path(__file__).resolve().parents[2] / "var"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install, pin or try the test Synapse.")
    parser.add_argument("--root", type=Path, default=repo_var())
    parser.add_argument("--pin", metavar="VERSION", help="regenerate the constraints file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.pin:
        print(pin_synapse(args.root, args.pin))
        return 0
    started = time.monotonic()
    bin_dir = ensure_synapse_venv(args.root)
    installed = time.monotonic()
    workdir = args.root / "synapse-try"
    shutil.rmtree(workdir, ignore_errors=True)
    with SynapseServer(bin_dir, workdir) as server:
        up = time.monotonic()
        server.register_user("probe", "probe-password", admin=True)
        registered = time.monotonic()
    print(
        f"install {installed - started:.1f} s, start {up - installed:.1f} s, "
        f"register {registered - up:.1f} s, url was {server.url}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
