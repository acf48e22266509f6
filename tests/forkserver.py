"""`python -m <module> ARGS` for the tests, forked from a Python that has already imported doit and pydantic.

The suite starts ~250 doit processes; each spent ~0.17 s of its ~0.25 s importing doit, pydantic and YAML before
it read its dodo. Each xdist worker keeps one pre-started server (this file run as a script) that imports those
third-party modules once and then forks per call: the child is still a process of its own with the test's
working directory, environment, argv and standard streams, running the module exactly as `python -m` does
(sys.path from its PYTHONPATH and cwd, fresh stdio objects, default signal handlers, atexit handlers and exit
status as a new interpreter). hops itself is never imported before the fork, so what a command imports, caches
or reads at import time is decided in the child as in a fresh process (tests/test_noop_cost.py counts on it).

A call whose environment changes how an interpreter starts (PYTHON* variables other than PYTHONPATH and
PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED, the locale) runs as a plain subprocess instead, as does every call when
HOPS_TEST_FORKSERVER=0.

Protocol on a Unix socket, one connection per call: the client sends one JSON line (module, args, cwd, env) with
its stdin/stdout/stderr descriptors attached (SCM_RIGHTS); a handler process forks the child, answers
`pid N` and, once the child has ended, `exit CODE` (as subprocess reports it: negative for a signal)."""

from __future__ import annotations

import array
import atexit
import io
import json
import locale
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

PRELOAD = ("doit", "doit.doit_cmd", "doit.cmd_base", "doit.loader", "doit.runner", "doit.cmd_run", "doit.reporter",
           "doit.dependency", "doit.task", "doit.action", "doit.api", "pydantic", "pydantic.main", "pydantic.fields",
           "pydantic.types", "pydantic.functional_validators", "pydantic._internal._model_construction",
           "pydantic._internal._generate_schema", "annotated_types", "yaml", "sqlite3", "dbm", "json", "subprocess",
           "multiprocessing", "selectors", "shlex", "fnmatch", "statistics", "tempfile", "uuid", "hashlib",
           "email.message", "importlib.metadata")
PIPE_BUFFER = 65536  # input up to this size is written into the child's stdin pipe before it starts
STARTUP_NEUTRAL = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}  # set in the child as at startup


# ---------------------------------------------------------------------------------------------- the client side

class ForkServer:
    """One pre-started server for this process (a pytest worker), started on first use, stopped at exit."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="hops-forkserver-"))
        self.socket_path = self._folder / "socket"
        self.startup_env = dict(os.environ)
        self._proc = subprocess.Popen([sys.executable, __file__, str(self.socket_path)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, env=self.startup_env, start_new_session=True)
        assert self._proc.stdout is not None
        if self._proc.stdout.readline() != b"ready\n":
            raise RuntimeError("the fork server did not start")
        atexit.register(self.stop)

    def stop(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # the server ends when its stdin does
            self._proc.wait(timeout=10)
        self.socket_path.unlink(missing_ok=True)
        self._folder.rmdir()

    def accepts(self, env: dict[str, str]) -> bool:
        """Whether a child of this server starts like `python` would with `env` (else: a plain subprocess)."""
        def startup(variables: dict[str, str]) -> dict[str, str]:
            return {k: v for k, v in variables.items()
                    if (k.startswith("PYTHON") and k not in STARTUP_NEUTRAL) or k in ("LANG", "LC_ALL", "LC_CTYPE")}
        return self._proc.poll() is None and startup(env) == startup(self.startup_env)

    def run(self, module: str, args: list[str], cwd: Path, env: dict[str, str], timeout: float | None,
            text: bool, input: bytes | None = None) -> subprocess.CompletedProcess:
        """Like subprocess.run([python, -m, module, *args], capture_output=True, text=text, timeout=timeout,
        input=input); without input the child's stdin is /dev/null."""
        argv = [sys.executable, "-m", module, *args]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(self.socket_path))
            stdin = _stdin(input)
            message = json.dumps({"module": module, "args": args, "cwd": str(cwd), "env": env}).encode() + b"\n"
            conn.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [stdin, out_w, err_w]))])
            os.close(stdin)
        finally:
            os.close(out_w)
            os.close(err_w)
        return _collect(conn, out_r, err_r, argv, timeout, text)


def _stdin(data: bytes | None) -> int:
    """A descriptor to read `data` from (a pipe already holding it, closed), or /dev/null."""
    if data is None:
        return os.open(os.devnull, os.O_RDONLY)
    reader, writer = os.pipe()
    try:
        os.write(writer, data)  # run_module sends only what fits in a pipe's buffer
    finally:
        os.close(writer)
    return reader


def _collect(conn: socket.socket, out_r: int, err_r: int, argv: list[str], timeout: float | None,
             text: bool) -> subprocess.CompletedProcess:
    """Reads the child's output until both pipes close and its exit status has come (subprocess.run's order)."""
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    control = b""
    sel = selectors.DefaultSelector()
    for fd in (out_r, err_r):
        sel.register(fd, selectors.EVENT_READ)
    sel.register(conn, selectors.EVENT_READ)
    deadline = None if timeout is None else time.monotonic() + timeout
    pid: int | None = None
    try:
        while len(sel.get_map()) > 0:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                _kill(pid, conn, control)
                raise subprocess.TimeoutExpired(argv, timeout or 0, b"".join(chunks[out_r]), b"".join(chunks[err_r]))
            for key, _ in sel.select(left):
                if key.fileobj is conn:
                    data = conn.recv(4096)
                    control += data
                    if not data:
                        sel.unregister(conn)
                else:
                    data = os.read(out_r if key.fileobj == out_r else err_r, 65536)
                    if data:
                        chunks[key.fileobj].append(data)  # type: ignore[index]
                    else:
                        sel.unregister(key.fileobj)
            pid = pid or _pid(control)
    finally:
        sel.close()
        conn.close()
        os.close(out_r)
        os.close(err_r)
    code = _exit_code(control)
    out, err = b"".join(chunks[out_r]), b"".join(chunks[err_r])
    if text:
        return subprocess.CompletedProcess(argv, code, _text(out), _text(err))
    return subprocess.CompletedProcess(argv, code, out, err)


def _text(output: bytes) -> str:
    """As subprocess's text=True decodes: the locale's encoding, universal newlines."""
    decoded = output.decode(locale.getpreferredencoding(False))
    return decoded.replace("\r\n", "\n").replace("\r", "\n")


def _pid(control: bytes) -> int | None:
    for line in control.decode().splitlines():
        if line.startswith("pid "):
            return int(line.split()[1])
    return None


def _exit_code(control: bytes) -> int:
    for line in control.decode().splitlines():
        if line.startswith("exit "):
            return int(line.split()[1])
    raise RuntimeError(f"the fork server sent no exit status: {control!r}")


def _kill(pid: int | None, conn: socket.socket, control: bytes) -> None:
    """On a timeout: SIGKILL the child and wait for the handler to report it (subprocess.run kills and waits)."""
    pid = pid or _pid(control + conn.recv(4096))
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    conn.settimeout(10)
    while b"exit " not in control:
        data = conn.recv(4096)
        if not data:
            break
        control += data


_server: ForkServer | None = None


def run_module(module: str, args: Sequence[str | bytes], cwd: Path | None = None,
               env: Mapping[str, str | bytes] | None = None, timeout: float | None = None,
               text: bool = True, input: str | bytes | None = None) -> subprocess.CompletedProcess:
    """`python -m module *args` with captured output (text or bytes), in `cwd` (default: this process's) with
    `env` (default: this process's): through this process's fork server when it can. Arguments and environment
    values may be bytes, as with subprocess (decoded as the interpreter decodes them: surrogate escapes)."""
    global _server
    str_args = [os.fsdecode(a) for a in args]
    str_env = {os.fsdecode(k): os.fsdecode(v) for k, v in (os.environ if env is None else env).items()}
    folder = Path(cwd or os.getcwd())
    data = input.encode() if isinstance(input, str) else input
    if os.environ.get("HOPS_TEST_FORKSERVER", "1") != "0" and (data is None or len(data) < PIPE_BUFFER):
        _server = _server or ForkServer()
        if _server.accepts(str_env):
            return _server.run(module, str_args, folder, str_env, timeout, text, data)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=folder, env=env, capture_output=True,
                          text=text, timeout=timeout, input=data if data is None or not text else data.decode())


# ---------------------------------------------------------------------------------------------- the server side

def serve(socket_path: str) -> dict | None:
    """Imports PRELOAD, then forks a handler per connection. Returns only in a forked child, with its call."""
    for name in PRELOAD:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the handlers
    os.write(1, b"ready\n")
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(0, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj == 0:  # the client closed our stdin (or died): done
                return None
            conn, _ = listener.accept()
            if os.fork() == 0:
                sel.close()
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                return _handle(conn)
            conn.close()


def _handle(conn: socket.socket) -> dict | None:
    """In the handler: receive the call, fork its child, report the child's pid and exit status."""
    data, fds = _receive(conn)
    call = json.loads(data)
    call["fds"] = fds
    pid = os.fork()
    if pid == 0:
        conn.close()
        return call
    for fd in fds:
        os.close(fd)
    conn.sendall(f"pid {pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
    conn.close()
    os._exit(0)


def _receive(conn: socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    data = b""
    while not data.endswith(b"\n"):
        msg, ancdata, _, _ = conn.recvmsg(1 << 20, socket.CMSG_LEN(3 * fds.itemsize))
        if not msg:
            raise RuntimeError("the client went away")
        data += msg
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def become(call: dict) -> None:
    """In the child: take the call's streams, folder, environment, sys.path and argv, then run its module."""
    import runpy

    stdin, stdout, stderr = call["fds"]
    for target, fd in enumerate((stdin, stdout, stderr)):
        os.dup2(fd, target)
    os.closerange(3, 4096)  # subprocess's close_fds: only the three streams
    os.chdir(call["cwd"])
    env: dict[str, str] = call["env"]
    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None  # gettempdir() reads the child's TMPDIR, as in a fresh interpreter
    extra = [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [os.getcwd(), *extra, *_BASE_PATH]
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    encoding = sys.stdout.encoding
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding=encoding)
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(_writer(1, unbuffered), encoding=encoding,
                                                   line_buffering=os.isatty(1), write_through=unbuffered)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(_writer(2, unbuffered), encoding=encoding,
                                                   errors="backslashreplace", line_buffering=True)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = [call["module"], *call["args"]]
    try:
        runpy.run_module(call["module"], run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        _exit(_exit_status(stop.code))
    except BaseException as error:  # noqa: BLE001 (as the interpreter reports an uncaught exception)
        sys.excepthook(type(error), error, error.__traceback__)
        _exit(1, signal.SIGINT if isinstance(error, KeyboardInterrupt) else None)
    _exit(0)


def _exit_status(code: object) -> int:
    """SystemExit's code as the interpreter turns it into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _exit(status: int, signum: int | None = None) -> None:
    """The interpreter's shutdown up to the point where it would tear down its modules: join non-daemon threads,
    run atexit handlers, flush the standard streams; then leave. (Tearing down every module this server
    imported, each page copied on write after the fork, took ~40 ms; a fresh `python -m` pays none of that.)
    An uncaught KeyboardInterrupt ends the process by SIGINT, as CPython does."""
    import atexit as exit_handlers
    import threading

    threading._shutdown()  # type: ignore[attr-defined]
    exit_handlers._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # CPython's status when flushing stdout fails at exit
    if signum is not None:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    os._exit(status)


def _writer(fd: int, unbuffered: bool) -> io.RawIOBase | io.BufferedWriter:
    raw = io.FileIO(fd, "w", closefd=False)
    return raw if unbuffered else io.BufferedWriter(raw)


# sys.path without the script's folder and PYTHONPATH: what the interpreter adds itself (stdlib, site-packages)
_BASE_PATH = [p for p in sys.path[1:]
              if p not in {os.path.abspath(e) for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e}]

if __name__ == "__main__":
    job = serve(sys.argv[1])
    if job is not None:
        become(job)
