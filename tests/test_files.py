"""What ``_files.atomic_write`` does with each kind of path a user can name: a regular file
or a new path is replaced atomically, a symbolic link is written through (the link kept), a
device, a pipe or an open file is streamed into, a folder, disk or socket is refused; never
is a device, a pipe or a link replaced by a regular file. Run as root too (the machine runs
as root): device nodes are made in a temporary folder, never touching the real /dev."""

from __future__ import annotations

import errno
import os
import select
import socket
import stat
import threading
import tty

import pytest

from tinygrad_mlp._files import atomic_write, write_kind

DATA = b"digraph { a -> b }\n"


def write(path, data=DATA) -> str:
    return atomic_write(str(path), lambda f: f.write(data))


def read_now(fd: int) -> bytes:
    """What is waiting in ``fd`` (b"" after a second of nothing)."""
    return os.read(fd, 1024) if select.select([fd], [], [], 1.0)[0] else b""


def kind(path) -> int:
    return stat.S_IFMT(os.lstat(path).st_mode)


def mknod(path, kind_bits, major, minor):
    try:
        os.mknod(path, 0o666 | kind_bits, os.makedev(major, minor))
    except PermissionError:  # not root: the device cases need root to make a node
        pytest.skip("making device nodes needs root")


# ---------------------------------------------------------------- files and links: atomic


def test_new_path_gets_the_umask_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        write(tmp_path / "new.dot")
    finally:
        os.umask(mask)
    assert (tmp_path / "new.dot").read_bytes() == DATA
    assert stat.S_IMODE(os.stat(tmp_path / "new.dot").st_mode) == 0o644
    assert os.listdir(tmp_path) == ["new.dot"]  # no temporary left


def test_existing_file_is_replaced_atomically_keeping_its_permissions(tmp_path):
    path = tmp_path / "g.dot"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    inode = os.stat(path).st_ino
    write(path)
    assert path.read_bytes() == DATA and stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.stat(path).st_ino != inode  # a new file renamed over it: never half-written


@pytest.mark.parametrize(
    "link_to",
    ["target.dot", "sub/target.dot", "../outside/target.dot", "ABS"],
    ids=["same folder", "sub folder", "relative up", "absolute"],
)
@pytest.mark.parametrize("exists", [True, False], ids=["target exists", "dangling"])
def test_symlink_is_written_through_and_stays_a_link(tmp_path, link_to, exists):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    target = tmp_path / "outside" / "target.dot" if "outside" in link_to else work / link_to
    if link_to == "ABS":
        target, link_to = tmp_path / "abs.dot", str(tmp_path / "abs.dot")
    if exists:
        target.write_bytes(b"old")
        os.chmod(target, 0o600)
    (work / "link.dot").symlink_to(link_to)
    write(work / "link.dot")
    assert kind(work / "link.dot") == stat.S_IFLNK and os.readlink(work / "link.dot") == link_to
    assert target.read_bytes() == DATA
    assert stat.S_IMODE(os.stat(target).st_mode) == (0o600 if exists else 0o666 & ~_umask())
    assert not [p for p in tmp_path.rglob(".*.part")]


def test_chain_of_links_lands_in_the_last_target(tmp_path):
    (tmp_path / "file.dot").write_bytes(b"old")
    (tmp_path / "b").symlink_to("file.dot")
    (tmp_path / "a").symlink_to("b")
    write(tmp_path / "a")
    assert (tmp_path / "file.dot").read_bytes() == DATA
    assert kind(tmp_path / "a") == kind(tmp_path / "b") == stat.S_IFLNK


def test_failed_write_through_a_link_leaves_target_and_link(tmp_path):
    (tmp_path / "file.dot").write_bytes(b"old")
    (tmp_path / "link").symlink_to("file.dot")

    def broken(f):
        f.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(str(tmp_path / "link"), broken)
    assert (tmp_path / "file.dot").read_bytes() == b"old" and kind(tmp_path / "link") == stat.S_IFLNK
    assert sorted(os.listdir(tmp_path)) == ["file.dot", "link"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- devices, pipes, open files: streamed


def test_named_pipe_is_streamed_into_and_stays_a_pipe(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert write_kind(str(fifo)) == "stream"
    write(fifo)
    reader.join(timeout=5)
    assert got == [DATA] and kind(fifo) == stat.S_IFIFO


def test_character_device_node_stays_a_device(tmp_path):
    node = tmp_path / "null"
    mknod(node, stat.S_IFCHR, 1, 3)  # /dev/null's numbers, in a temporary folder
    write(node)
    assert kind(node) == stat.S_IFCHR and os.stat(node).st_rdev == os.makedev(1, 3)
    assert os.listdir(tmp_path) == ["null"]


def test_terminal_gets_the_bytes(tmp_path):
    master, slave = os.openpty()
    try:
        tty.setraw(slave)  # no newline translation
        (tmp_path / "tty").symlink_to(os.ttyname(slave))
        write(tmp_path / "tty")
        assert read_now(master) == DATA
        assert kind(os.ttyname(slave)) == stat.S_IFCHR and kind(tmp_path / "tty") == stat.S_IFLNK
    finally:
        os.close(master)
        os.close(slave)


def test_dev_stdout_style_link_to_a_pipe_streams_into_it(tmp_path):
    # /dev/stdout is a link to /proc/self/fd/1; a link of ours to /proc/self/fd/W plays it here
    r, w = os.pipe()
    try:
        (tmp_path / "stdout").symlink_to(f"/proc/self/fd/{w}")
        write(tmp_path / "stdout")
        assert read_now(r) == DATA and kind(tmp_path / "stdout") == stat.S_IFLNK
    finally:
        os.close(r)
        os.close(w)


def test_link_to_an_open_file_appends_to_it_instead_of_replacing_it(tmp_path):
    # `tinygrad-mlp graph --out /dev/stdout >> log`: the log keeps what it had
    log = tmp_path / "log"
    log.write_bytes(b"earlier lines\n")
    inode = os.stat(log).st_ino
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        write(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    assert log.read_bytes() == b"earlier lines\n" + DATA and os.stat(log).st_ino == inode


# ---------------------------------------------------------------- refused, one line, nothing replaced


def _block_device(path):
    mknod(path, stat.S_IFBLK, 7, 0)  # a loop device's numbers: never opened


def _socket(path):
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()


def _folder(path):
    path.mkdir()


def _link_to_folder(path):
    (path.parent / "real").mkdir()
    path.symlink_to("real")


def _loop(path):
    path.symlink_to(path.name)


@pytest.mark.parametrize(
    "make,code,words",
    [
        (_folder, errno.EISDIR, "is a folder"),
        (_link_to_folder, errno.EISDIR, "is a folder"),
        (_block_device, errno.EINVAL, "is a block device"),
        (_socket, errno.EINVAL, "is a socket"),
        (_loop, errno.ELOOP, "symbolic links"),
    ],
    ids=["folder", "link to a folder", "block device", "socket", "link loop"],
)
def test_what_cannot_hold_a_file_is_refused_and_left_alone(tmp_path, make, code, words):
    path = tmp_path / "out"
    make(path)
    before = {p.name: (kind(p), os.lstat(p).st_ino) for p in tmp_path.iterdir()}
    with pytest.raises(OSError) as info:
        write(path)
    assert info.value.errno == code and words in info.value.strerror and info.value.filename == str(path)
    assert {p.name: (kind(p), os.lstat(p).st_ino) for p in tmp_path.iterdir()} == before
