"""Output files (issue 32, "Lost or clobbered data"): every --out / -o / --json / --header is
checked before the command runs and written whole or not at all (zerohero.outputs)."""

import json
import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from zerohero import outputs
from zerohero.cli import main
from zerohero.nn import MLP

@pytest.fixture
def nothing_runs(monkeypatch):
    """The commands' work (Verilog generation, a kernel run, training or loading a model)
    fails the test if it starts: outputs are refused before it."""
    def ran(*args, **kwargs):
        raise AssertionError("the command ran before its output was refused")

    monkeypatch.setattr("zerohero.sim.harness.generated", ran)
    monkeypatch.setattr("zerohero.runtime.Runtime", ran)
    monkeypatch.setattr("zerohero.nn._load_or_train", ran)


@pytest.fixture
def fast_verilog(monkeypatch):
    """A stand-in for the minute-long Verilog generation: the output logic is what is tested."""
    def generated(cfg, top):
        return ("module zerohero_accelerator;\nendmodule\n",
                {"module": "zerohero_accelerator", "top": top, "config": {"name": cfg.name},
                 "ports": []})

    monkeypatch.setattr("zerohero.sim.harness.generated", generated)


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.npz"
    rng = np.random.default_rng(0)
    MLP([rng.normal(size=(64, 16)), rng.normal(size=(16, 10))],
        [np.zeros(16), np.zeros(10)]).save(path)
    return path


def refused(capsys, argv, message):
    """``argv`` exits 2 with one line ``zerohero: error: ...message...``."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zerohero: error: ") and err.count("\n") == 1, err
    assert message in err, err
    return err


def files(folder):
    """Every name in ``folder``, hidden ones (temporary files) included."""
    return sorted(os.listdir(folder))


# Checked before anything runs ---------------------------------------------------------------

@pytest.mark.parametrize("argv, option", [
    (["verilog", "-o", "{d}/x.v"], "-o"),
    (["regmap", "--json", "{d}/x.json"], "--json"),
    (["nn", "train", "--out", "{d}/x.npz"], "--out"),
    (["run", "spmv", "--random", "4x4", "--sim", "model", "--out", "{d}/x.npy"], "--out"),
])
def test_an_output_that_is_a_directory_is_refused_before_running(tmp_path, capsys, nothing_runs,
                                                                 argv, option):
    name = argv[-1].format(d=tmp_path)
    os.mkdir(name)
    refused(capsys, [a.format(d=tmp_path) for a in argv], f"{option} {name}: is a directory")


def test_a_model_is_not_overwritten_by_its_compiled_network(tmp_path, capsys, nothing_runs,
                                                            model_file):
    before = model_file.read_bytes()
    os.symlink(model_file, tmp_path / "link.npz")
    for out in (model_file, tmp_path / "link.npz"):
        refused(capsys, ["nn", "compile", "--model", model_file, "--out", out],
                f"--out {out}: is the input --model {model_file}")
    assert model_file.read_bytes() == before
    assert files(tmp_path) == ["link.npz", "m.npz"]


def test_run_does_not_overwrite_its_input(tmp_path, capsys, nothing_runs):
    a = tmp_path / "in.npy"
    np.save(a, np.eye(3, dtype=np.int64))
    refused(capsys, ["run", "spmv", "--a", a, "--sim", "model", "--out", a],
            f"--out {a}: is the input --a {a}")


def test_two_outputs_of_one_command_do_not_clash(tmp_path, capsys, nothing_runs):
    f = tmp_path / "f"
    refused(capsys, ["regmap", "--json", f, "--header", f], f"--header {f}: is also written as "
            f"--json {f}")
    # -o ports.json would be replaced by the port description written beside it
    refused(capsys, ["verilog", "-o", tmp_path / "ports.json"],
            "the port description is written beside the Verilog as NAME.json")
    # the same through a link: top.v names top.json, which the description also is
    os.symlink(tmp_path / "top.json", tmp_path / "top.v")
    refused(capsys, ["verilog", "-o", tmp_path / "top.v"], "is also written as -o")
    assert files(tmp_path) == ["top.v"]


def test_an_output_folder_must_be_a_folder(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    refused(capsys, ["regmap", "--json", tmp_path / "file" / "x.json"],
            f"{tmp_path / 'file'} is not a folder")


def test_verilog_replaces_its_own_description_not_an_unrelated_json(tmp_path, capsys,
                                                                    fast_verilog):
    settings = tmp_path / "settings.json"
    settings.write_text('{"baud": 115200}\n')
    refused(capsys, ["verilog", "-o", tmp_path / "settings.v"],
            f"{settings} (written beside it) exists and is not a port description")
    assert settings.read_text() == '{"baud": 115200}\n'
    assert files(tmp_path) == ["settings.json"]
    for _ in range(2):          # a re-run replaces the description it wrote
        assert main(["verilog", "-o", str(tmp_path / "top.v")]) == 0
    assert json.loads((tmp_path / "top.json").read_text())["module"] == "zerohero_accelerator"
    assert files(tmp_path) == ["settings.json", "top.json", "top.v"]


@pytest.mark.parametrize("argv", [
    ["verilog", "-o", "{link}.v"],
    ["regmap", "--header", "{link}.h"],
    ["nn", "train", "--out", "{link}.npz"],
    ["run", "spmv", "--random", "4x4", "--sim", "model", "--out", "{link}.mtx"],
])
def test_a_link_to_dev_full_is_refused_not_reported_written(tmp_path, capsys, nothing_runs,
                                                            argv):
    # A device is not a file to replace: refused up front (writing through /dev/full once
    # reported success and left nothing that reads back).
    argv = [a.format(link=tmp_path / "full") for a in argv]
    os.symlink("/dev/full", argv[-1])
    refused(capsys, argv, "exists and is not a regular file")
    assert os.readlink(argv[-1]) == "/dev/full"
    assert len(files(tmp_path)) == 1


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "regs.json"
    os.mkfifo(fifo)
    proc = subprocess.run([sys.executable, "-m", "zerohero", "regmap", "--json", str(fifo)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "exists and is not a regular file" in proc.stderr
    assert files(tmp_path) == ["regs.json"]


# Written whole or not at all ----------------------------------------------------------------

def with_file_size_limit(argv, cwd, limit=4096):
    """``zerohero argv`` unable to write past ``limit`` bytes in any file: a disk that fills
    up (Python ignores SIGXFSZ, so a write beyond the limit fails with EFBIG)."""
    def limit_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "zerohero", *map(str, argv)], cwd=cwd,
                          preexec_fn=limit_files, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("argv, out", [
    (["regmap", "--json", "regs.json", "--header", "regs.h"], "regs.json"),
    (["nn", "train", "--epochs", "1", "-q", "--out", "model.npz"], "model.npz"),
    (["run", "spmv", "--random", "800x50", "--sim", "model", "--out", "y.mtx"], "y.mtx"),
])
def test_a_full_disk_is_reported_and_the_old_file_survives(tmp_path, argv, out):
    (tmp_path / out).write_text("the previous result\n")
    proc = with_file_size_limit(argv, tmp_path)
    assert proc.returncode == 2, proc
    assert proc.stderr == (f"zerohero: error: {argv[argv.index(out) - 1]} {out}: not written "
                           "(File too large); an existing file is left as it was\n")
    assert (tmp_path / out).read_text() == "the previous result\n"
    assert files(tmp_path) == [out]          # no temporary file, no second output


def test_both_outputs_or_neither(tmp_path, capsys, monkeypatch):
    js, hdr = tmp_path / "regs.json", tmp_path / "regs.h"
    js.write_text("old json\n")
    hdr.write_text("old header\n")
    fsync = os.fsync
    calls = []

    def second_fsync_fails(fd):     # the header's, after the JSON was written
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        fsync(fd)

    monkeypatch.setattr(outputs.os, "fsync", second_fsync_fails)
    refused(capsys, ["regmap", "--json", js, "--header", hdr],
            f"--header {hdr}: not written (No space left on device)")
    assert js.read_text() == "old json\n" and hdr.read_text() == "old header\n"
    assert files(tmp_path) == ["regs.h", "regs.json"]


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path):
    out = outputs.check("--out", tmp_path / "r.npy", (".npy",))
    (tmp_path / "r.npy").write_bytes(b"old")

    def interrupted(f):
        f.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        outputs.write(out, interrupted)
    assert (tmp_path / "r.npy").read_bytes() == b"old"
    assert files(tmp_path) == ["r.npy"]


def test_a_link_keeps_pointing_at_the_new_file(tmp_path, capsys):
    real = tmp_path / "real.json"
    real.write_text("old\n")
    os.symlink(real, tmp_path / "link.json")
    assert main(["regmap", "--json", str(tmp_path / "link.json")]) == 0
    assert os.path.islink(tmp_path / "link.json")
    assert "registers" in json.loads(real.read_text())
    assert files(tmp_path) == ["link.json", "real.json"]


# Exactly the name given ---------------------------------------------------------------------

def test_nn_writes_exactly_the_name_given(tmp_path, capsys, model_file):
    out = tmp_path / "R.NPZ"                # np.savez(name) would write R.NPZ.npz
    assert main(["nn", "train", "--epochs", "1", "-q", "--out", str(out)]) == 0
    assert MLP.load(out).sizes == (64, 128, 64, 10)
    compiled = tmp_path / "C.NPZ"
    assert main(["nn", "compile", "--model", str(model_file), "--finetune-epochs", "0",
                 "--out", str(compiled), "-q"]) == 0
    assert "A0" in np.load(compiled).files
    assert files(tmp_path) == ["C.NPZ", "R.NPZ", "m.npz"]


def test_nn_refuses_a_name_that_is_not_npz_before_training(tmp_path, capsys, nothing_runs):
    refused(capsys, ["nn", "train", "--out", tmp_path / "noext"],
            f"--out {tmp_path / 'noext'}: expected a .npz file name")
    refused(capsys, ["nn", "run", "--out", tmp_path / "x.npz"],
            "--out applies to nn train and nn compile")
    assert files(tmp_path) == []


@pytest.mark.parametrize("name", ["R.NPY", "R.MTX"])
def test_run_writes_exactly_the_name_given(tmp_path, capsys, name):
    out = tmp_path / name                   # np.save(name) would write R.NPY.npy
    assert main(["run", "spmv", "--random", "6x5", "--sim", "model", "-q", "--out",
                 str(out)]) == 0
    assert f"written to {out}" in capsys.readouterr().out
    assert files(tmp_path) == [name]


def test_sigterm_during_a_write_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    """SIGTERM (kill, timeout, a cancelled job) unwinds like Ctrl-C: the temporary file goes,
    the old file stays, one line, exit 143."""
    import signal

    out = tmp_path / "regs.json"
    out.write_text("old\n")

    def terminated_in_fsync(fd):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(outputs.os, "fsync", terminated_in_fsync)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["regmap", "--json", str(out)]) == 143
    assert capsys.readouterr().err == "zerohero: terminated\n"
    assert out.read_text() == "old\n" and files(tmp_path) == ["regs.json"]
    assert signal.getsignal(signal.SIGTERM) == before      # the handler is main()'s only


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    out = tmp_path / "regs.h"
    out.write_text("old\n")
    os.chmod(out, 0o600)
    assert main(["regmap", "--header", str(out)]) == 0
    assert out.read_text() != "old\n" and (out.stat().st_mode & 0o777) == 0o600
