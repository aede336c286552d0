#!/usr/bin/env python3
"""Writes the seed tars of snapshot_unpack_fuzz into fuzz/seeds/snapshot_unpack/.

A few archives shaped like what `overdrive` itself writes (ustar/pax, mtime 0, uid 0), and the
classic ways an uploaded tar tries to write outside its folder: '..', absolute paths, a symlink
then a file through it, hard links through symlinks, a folder replaced by a symlink before its
permissions are fixed up, an entry named '.'. The fuzzer unpacks into box/work/dest, so
'../../outside' is a real folder it watches. Run from the repository root; output is
deterministic.
"""
import gzip
import io
import os
import tarfile

# No padding to 10 KiB records: the end-of-archive blocks alone keep the seeds small.
tarfile.RECORDSIZE = tarfile.BLOCKSIZE

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "snapshot_unpack")


def entry(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def write(name, entries, fmt=tarfile.USTAR_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, data)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(buf.getvalue())


D, S, H = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
write("project.tar", [
    entry(".amlignore", data=b"data/\n*.ckpt\n"),
    entry("run.sh", data=b"#!/bin/sh\nexec python train.py \"$@\"\n", mode=0o755),
    entry("src", D, mode=0o755),
    entry("src/__init__.py", data=b""),
    entry("src/model.py", data=b"import torch\n\nclass Net(torch.nn.Module):\n    pass\n"),
    entry("train.py", data=b"from src.model import Net\nprint('loss=0.5')\n"),
    entry("model.py", S, mode=0o777, link="src/model.py"),
])
write("pax_long_names.tar", [
    entry("notebooks", D, mode=0o755),
    entry("notebooks/" + "very_long_experiment_name_" * 5 + ".ipynb", data=b"{}\n"),
    entry("données/évaluation.py", data="print('précision=0.9')\n".encode()),
], fmt=tarfile.PAX_FORMAT)
write("gnu_long_link.tar", [
    entry("a" * 120, data=b"x\n"),
    entry("l", S, mode=0o777, link="b" * 120),
], fmt=tarfile.GNU_FORMAT)
write("dotdot.tar", [entry("ok.txt", data=b"fine\n"), entry("../../outside/secret", data=b"pwned\n")])
write("absolute.tar", [entry("/tmp/overdrive-fuzz-absolute.txt", data=b"pwned\n")])
write("symlink_then_file.tar", [
    entry("out", S, mode=0o777, link="../../outside"),
    entry("out/secret", data=b"pwned\n"),
])
write("symlink_dir_then_file.tar", [
    entry("out", S, mode=0o777, link="../../outside/dir"),
    entry("out/new", data=b"pwned\n"),
])
write("hardlink_through_symlink.tar", [
    entry("s", S, mode=0o777, link="../../outside"),
    entry("h", H, link="s/secret"),
    entry("h", data=b"pwned\n"),
])
write("hardlink_to_symlink.tar", [
    entry("s", S, mode=0o777, link="../../outside/secret"),
    entry("h", H, link="s"),
    entry("h", data=b"pwned\n"),
])
write("dir_replaced_by_symlink.tar", [
    entry("d", D, mode=0o777),
    entry("d", S, mode=0o777, link="../../outside/secret"),
])
write("dot_symlink.tar", [
    entry(".", S, mode=0o777, link="../../outside"),
    entry("secret", data=b"pwned\n"),
])
write("dot_symlink_parent.tar", [
    entry(".", S, mode=0o777, link="../outside"),
    entry("secret", data=b"pwned\n"),
])
write("dotslash_under_symlink.tar", [
    entry("a", S, mode=0o777, link="../../outside/dir"),
    entry("./a/file", data=b"pwned\n"),
])
write("overwrite_symlink_with_file.tar", [
    entry("s", S, mode=0o777, link="../../outside/secret"),
    entry("s", data=b"pwned\n", mode=0o666),
])
write("dot_dir_modes.tar", [
    entry(".", D, mode=0o700),
    entry("./a//b/", D, mode=0o000),
    entry("./a/b/c", data=b"c\n", mode=0o4755),
])

# Compressed, as clients may upload: gzip of the project.
with open(os.path.join(OUT, "project.tar"), "rb") as f:
    raw = f.read()
with open(os.path.join(OUT, "project.tar.gz"), "wb") as f:
    f.write(gzip.compress(raw, mtime=0))
