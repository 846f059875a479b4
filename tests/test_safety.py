"""Issue 16: nothing lost, nothing accepted that fails later. Each test is one probe: its message, and what is kept."""

import errno
import gzip
import shutil
from types import SimpleNamespace

import numpy as np
import pytest


def snapshot(folder):
    """Every file under `folder` with its bytes and modification time."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def one_cgan_epoch(nb, tiny, tmp_path):
    """A finished one-epoch cGAN run folder under tmp_path/runs."""
    cfg, images, labels = tiny
    one = nb["replace"](cfg, epochs_cgan=1, runs_dir=str(tmp_path / "runs"), samples_dir=str(tmp_path / "samples"))
    return nb["train_gan"]("cgan", one, images, labels["cgan"], quality_on=False).run_dir


def test_a_loose_checkpoint_copy_never_touches_the_first_runs_pictures(nb, tiny, tmp_path, capsys):
    cfg, images, labels = tiny
    first = tmp_path / "first"
    three = nb["replace"](cfg, epochs_cgan=3)
    nb["train_gan"](
        "cgan", three, images, labels["cgan"], quality_on=False, run_dir=tmp_path / "run", samples_dir=first
    )
    (first / "cgan" / "training.gif").write_bytes(b"the first run's GIF")
    before = snapshot(first)
    (tmp_path / "copy").mkdir()
    loose = tmp_path / "copy" / "epoch_001.pt"
    shutil.copy(tmp_path / "run" / "checkpoints" / "epoch_001.pt", loose)
    own = nb["replace"](cfg, epochs_cgan=3, runs_dir=str(tmp_path / "runs"), samples_dir=str(tmp_path / "own"))
    gan = nb["train_gan"]("cgan", own, images, labels["cgan"], quality_on=False, resume_from=loose)
    assert snapshot(first) == before, "the first run's pictures were changed"
    assert gan.samples_dir == tmp_path / "own" / "cgan" and gan.run_dir.parent == tmp_path / "runs"
    assert sorted(p.name for p in gan.samples_dir.glob("epoch_*.png")) == [f"epoch_00{e}.png" for e in (1, 2, 3)]
    assert f"pictures to {tmp_path / 'own' / 'cgan'}/" in capsys.readouterr().out


def test_resuming_into_a_folder_with_pictures_draws_beside_them(nb, tiny, tmp_path):
    cfg, images, labels = tiny
    nb["train_gan"]("cgan", cfg, images, labels["cgan"], quality_on=False, run_dir=tmp_path / "a", samples_dir=tmp_path)
    before = snapshot(tmp_path / "cgan")
    (tmp_path / "a" / "checkpoints" / "epoch_002.pt").unlink()
    gan = nb["train_gan"](
        "cgan", cfg, images, labels["cgan"], quality_on=False, resume_from=tmp_path / "a", samples_dir=tmp_path
    )
    assert snapshot(tmp_path / "cgan") == before
    assert gan.samples_dir.parent.parent == tmp_path and gan.samples_dir.parent.name.startswith("run-")


@pytest.mark.parametrize(
    "changed, message",
    [
        ({"GAN_BATCH_SIZE": "64"}, "GAN_BATCH_SIZE=64, the checkpoint needs GAN_BATCH_SIZE=32"),
        ({"GAN_LATENT_DIM": "64"}, "GAN_LATENT_DIM=64, the checkpoint needs GAN_LATENT_DIM=100"),
        ({"GAN_TRAIN_SUBSET": "4096"}, "GAN_TRAIN_SUBSET=4096, the checkpoint needs GAN_TRAIN_SUBSET=2048"),
        ({"GAN_EMA_DECAY": "0.99"}, "GAN_EMA_DECAY=0.99, the checkpoint needs GAN_EMA_DECAY=0.999"),
        ({"GAN_D_SPECTRAL_NORM": "0"}, "GAN_D_SPECTRAL_NORM=0, the checkpoint needs GAN_D_SPECTRAL_NORM=1"),
        ({"GAN_FAST": "0", "GAN_EPOCHS_CGAN": "3"}, "GAN_FAST=0, the checkpoint needs GAN_FAST=1"),
    ],
)
def test_resume_settings_that_must_match_are_checked_up_front(nb, one_cgan_epoch, changed, message):
    base = {"GAN_FAST": "1", "GAN_MODELS": "dcgan,cgan", "GAN_EPOCHS_CGAN": "3", "GAN_LOG_EVERY": "1"}
    with pytest.raises(ValueError, match="GAN_RESUME_CGAN=.* cannot be continued exactly") as error:
        nb["settings_from_env"](base | {"GAN_RESUME_CGAN": str(one_cgan_epoch)} | changed)
    assert message in str(error.value)


def test_the_longest_allowed_gif_frame_is_written(nb, tmp_path):
    frames = [np.zeros((8, 8, 3), np.uint8)] * 2
    nb["make_gif"](frames, tmp_path / "slow.gif", nb["GIF_LONGEST_FRAME"])
    assert (tmp_path / "slow.gif").stat().st_size > 0


def test_an_evaluator_path_that_is_a_folder_is_refused(nb, tmp_path):
    with pytest.raises(ValueError, match="GAN_EVALUATOR_PATH=.* is a folder: name a file, such as"):
        nb["settings_from_env"]({"GAN_FAST": "1", "GAN_EVALUATOR_PATH": str(tmp_path)})


def test_a_cached_evaluator_of_another_recipe_is_never_replaced(nb, tmp_path):
    cache = tmp_path / "mnist_evaluator.pt"
    cfg = nb["replace"](nb["cfg"], evaluator_path=str(cache))
    older = nb["evaluator_recipe"](cfg) | {"version": 2, "evaluator_epochs": cfg.evaluator_epochs + 1}
    nb["torch"].save({"state_dict": {}, "recipe": older}, cache)
    reasons = [r"this notebook's version, GAN_EVALUATOR_EPOCHS changed its recipe", r"it cannot be read"]
    for content, reason in zip([cache.read_bytes(), b"not a torch file"], reasons):
        cache.write_bytes(content)
        with pytest.raises(ValueError, match=rf"GAN_EVALUATOR_PATH=.* cannot use \({reason}\): delete that file"):
            nb["load_or_train_evaluator"](cfg, required_accuracy=0.97)
        assert cache.read_bytes() == content, "the cached evaluator was replaced"


@pytest.mark.parametrize("name", ["GAN_RUNS_DIR", "GAN_SAMPLES_DIR", "GAN_EVALUATOR_PATH"])
def test_an_unwritable_output_folder_is_refused(nb, tmp_path, monkeypatch, name):
    writable = nb["tempfile"].TemporaryFile

    read_only = tmp_path / "read-only"
    read_only.mkdir()

    def read_only_tmp_path(*args, dir, **kwargs):
        if dir == read_only:
            raise OSError(errno.EROFS, "Read-only file system")
        return writable(*args, dir=dir, **kwargs)

    monkeypatch.setattr(nb["tempfile"], "TemporaryFile", read_only_tmp_path)
    value = str(read_only / "new" / ("mnist_evaluator.pt" if name == "GAN_EVALUATOR_PATH" else "out"))
    with pytest.raises(ValueError, match=f"{name}=.*: cannot write into {read_only} \\(Read-only file system\\)"):
        nb["settings_from_env"]({"GAN_FAST": "1", "GAN_RUNS_DIR": str(tmp_path / "runs"), name: value})
    assert list(read_only.iterdir()) == []


def test_a_full_disk_names_the_folder_keeps_the_last_checkpoint_and_leaves_no_partial(
    nb, tiny, one_cgan_epoch, monkeypatch, tmp_path
):
    cfg, images, labels = tiny

    def full_disk(state, path):
        open(path, "wb").write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nb["torch"], "save", full_disk)
    checkpoints = one_cgan_epoch / "checkpoints"
    with pytest.raises(
        OSError, match=f"no space left in {checkpoints} for epoch_002.pt: it needs about .* MB"
    ) as error:
        nb["train_gan"](
            "cgan", cfg, images, labels["cgan"], quality_on=False, resume_from=one_cgan_epoch, samples_dir=tmp_path
        )
    assert "The last good checkpoint is " + str(checkpoints / "epoch_001.pt") in str(error.value)
    monkeypatch.undo()
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch_001.pt"]
    assert nb["load_checkpoint"](checkpoints / "epoch_001.pt", "cpu")["epoch"] == 1


def test_a_full_disk_while_drawing_leaves_no_partial_picture(nb, tmp_path, monkeypatch):
    def torch_full(partial):  # torch reports a full disk as a RuntimeError from its zip writer
        partial.write_bytes(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos")

    monkeypatch.setattr(nb["shutil"], "disk_usage", lambda path: SimpleNamespace(free=100))
    with pytest.raises(OSError, match=f"no space left in {tmp_path} for epoch_001.png: it needs about 1.0 MB"):
        nb["write_safely"](tmp_path / "epoch_001.png", torch_full, needed=10**6)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def one_epoch_runs(nb, tmp_path_factory):
    """A one-epoch run folder of each model, a few batches long."""
    cfg = nb["replace"](nb["cfg"], log_every=1, selfcond_groups=4, epochs_dcgan=1, epochs_selfcond=1)
    images, folder = nb["gan_images"][: 2 * cfg.batch_size], tmp_path_factory.mktemp("runs")
    groups, _ = nb["kmeans"](images, cfg.selfcond_groups, 5, cfg.seed)
    cfg = nb["replace"](cfg, runs_dir=str(folder), samples_dir=str(folder / "samples"))
    return {
        kind: nb["train_gan"](kind, cfg, images, labels, quality_on=False).run_dir
        for kind, labels in [("dcgan", None), ("selfcond", groups)]
    }


def test_generate_draws_digits_from_a_cgan_only(nb, one_epoch_runs):
    with pytest.raises(ValueError, match="from a cGAN only; a DCGAN has no labels"):
        nb["generate"](7, generator=nb["load_generator"](one_epoch_runs["dcgan"], "cpu"))
    with pytest.raises(ValueError, match="from a cGAN only; a self-conditioned GAN's labels are k-means groups"):
        nb["generate"](7, generator=nb["load_generator"](one_epoch_runs["selfcond"], "cpu"))
    with pytest.raises(TypeError, match="is a path: pass generator=load_generator"):
        nb["generate"](7, generator=str(one_epoch_runs["dcgan"]))
    with pytest.raises(TypeError, match="load_generator takes a run folder or checkpoint path, not a"):
        nb["load_generator"](nb["load_generator"](one_epoch_runs["dcgan"]))


def test_checkpoints_and_generators_are_read_as_tensors_only(nb, one_epoch_runs, monkeypatch):
    """Every torch.load of the notebook passes weights_only=True, so a file cannot run code when it is read."""
    import torch

    flags, real_load = [], torch.load

    def recording_load(*args, **kwargs):
        flags.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    nb["load_generator"](one_epoch_runs["dcgan"])  # a checkpoint
    nb["check_resume"](nb["replace"](nb["cfg"], epochs_dcgan=2, resume_dcgan=str(one_epoch_runs["dcgan"])), "dcgan")
    nb["load_generator"](str(nb["SHIPPED_DIR"] / "cgan" / "generator.pt"))  # a shipped generator
    assert flags == [True, True, True]


def test_gz_mnist_files_are_used_offline(nb, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in nb["MNIST_SHA256"]:
        source = nb["Path"](nb["cfg"].data_dir).absolute() / "MNIST" / "raw" / name
        if "labels" in name:
            (raw / f"{name}.gz").write_bytes(gzip.compress(source.read_bytes(), compresslevel=1))
        else:
            (raw / name).symlink_to(source)
    images, labels = nb["load_mnist"](tmp_path, train=True)
    assert len(labels) == 60_000 and (raw / "train-labels-idx1-ubyte").is_file()
    (raw / "t10k-labels-idx1-ubyte").unlink()
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz is damaged .*: delete it and copy it again"):
        nb["load_mnist"](tmp_path, train=False)
    assert not (raw / "t10k-labels-idx1-ubyte.partial").exists()


def test_a_bad_gz_and_an_unwritable_data_folder_are_told_apart(nb, tmp_path, monkeypatch):
    """A plain file unpacked from a bad .gz names the .gz too; a folder that takes no file is not called damaged."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    name = "t10k-labels-idx1-ubyte"
    (raw / f"{name}.gz").write_bytes(gzip.compress(b"labels, but not MNIST's"))
    nb["unpack_gz"](raw)
    with pytest.raises(ValueError, match=f"{name} is damaged .*: delete it and {name}.gz and run again"):
        nb["check_mnist_files"](raw)
    (raw / name).unlink()

    def unwritable(path, mode="r", *args, **kwargs):
        if "w" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return open(path, mode, *args, **kwargs)

    monkeypatch.setitem(nb, "open", unwritable)  # the notebook's cells look up open in their namespace first
    with pytest.raises(ValueError, match=f"cannot unpack {name}.gz into {raw} \\(Permission denied\\): make that"):
        nb["unpack_gz"](raw)
    assert (raw / f"{name}.gz").is_file()


def test_no_tensorboard_is_started_unattended(nb, capsys):
    nb["open_tensorboard"]("runs", "auto")
    assert (
        "TensorBoard not started (GAN_TENSORBOARD=auto, and this run is unattended); to watch: tensorboard --logdir runs"
        in capsys.readouterr().out
    )
    assert nb["STARTED_TENSORBOARDS"] == []


def test_a_full_disk_while_shipping_a_generator_leaves_no_partial_file(nb, tmp_path, monkeypatch):
    def full_disk(state, path):
        open(path, "wb").write(b"half a generator")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nb["torch"], "save", full_disk)
    with pytest.raises(OSError, match=f"no space left in {tmp_path} for generator.pt"):
        nb["save_with_sha256"]({"weights": nb["torch"].zeros(4)}, tmp_path / "generator.pt")
    assert list(tmp_path.iterdir()) == []


def test_networks_of_another_shape_are_refused_with_the_files_name(nb, tiny, one_cgan_epoch, tmp_path):
    """A checkpoint from an older version of the networks (the cGAN's first layer as a transposed convolution)."""
    cfg, images, labels = tiny
    saved = nb["load_checkpoint"](nb["latest_checkpoint"](one_cgan_epoch), "cpu")
    for state in (saved["generator"], saved["sampling_generator"]):
        state["net.0.weight"] = state["net.0.weight"].T.reshape(-1, 2 * cfg.g_width, 7, 7)
    older = tmp_path / "older" / "epoch_001.pt"
    older.parent.mkdir()
    nb["torch"].save(saved, older)
    with pytest.raises(ValueError, match="epoch_001.pt holds networks of another shape than this notebook builds"):
        nb["load_generator"](older)
    two = nb["replace"](cfg, epochs_cgan=2, runs_dir=str(tmp_path / "runs"), samples_dir=str(tmp_path / "samples"))
    with pytest.raises(ValueError, match="epoch_001.pt holds networks of another shape than this notebook builds"):
        nb["train_gan"]("cgan", two, images, labels["cgan"], quality_on=False, resume_from=older)


def test_incomplete_or_misplaced_files_are_named(nb, one_epoch_runs, tmp_path, monkeypatch):
    """A checkpoint with this notebook's tag but keys missing, an unreadable generator.pt, a generator in the wrong
    model's folder: each is named with what to do, not a KeyError or a zip-reader error from torch."""
    torch = nb["torch"]
    checkpoint = nb["latest_checkpoint"](one_epoch_runs["dcgan"])
    saved = nb["load_checkpoint"](checkpoint, "cpu")
    del saved["config"], saved["epoch"]
    torch.save(saved, tmp_path / "epoch_001.pt")
    with pytest.raises(ValueError, match=r"epoch_001.pt is incomplete \(it has no epoch, config\): pick another"):
        nb["load_checkpoint"](tmp_path / "epoch_001.pt", "cpu")
    (tmp_path / "garbage.pt").write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="garbage.pt is not a readable generator.pt"):
        nb["load_shipped_generator"](tmp_path / "garbage.pt")
    dcgan_generator = next((one_epoch_runs["dcgan"].parent / "samples").rglob("dcgan/generator.pt"))
    (tmp_path / "cgan").mkdir()
    for name in ("generator.pt", "generator.pt.sha256"):  # with its SHA-256, as if someone had copied both
        shutil.copy(dcgan_generator.with_name(name), tmp_path / "cgan" / name)
    monkeypatch.setitem(nb, "SHIPPED_DIR", tmp_path)
    with pytest.raises(ValueError, match="cgan.generator.pt holds a dcgan generator, not a cgan: git checkout"):
        nb["ShippedGAN"]("cgan", nb["replace"](nb["cfg"], samples_dir=str(tmp_path / "new")))
