"""Runs that go wrong stop early and say why; resuming is exact; nothing a user made is overwritten."""

import shutil
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def weights(module):
    return {name: value.clone() for name, value in module.state_dict().items()}


def test_a_damaged_mnist_file_is_named(nb, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in nb["MNIST_SHA256"]:
        shutil.copy(nb["Path"](nb["cfg"].data_dir) / "MNIST" / "raw" / name, raw / name)
    labels = raw / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:8] + torch.randint(0, 256, (60_000,), dtype=torch.uint8).numpy().tobytes())
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte is damaged or not the MNIST file.*delete it"):
        nb["load_mnist"](tmp_path, train=True)


@pytest.mark.parametrize("kind", ["dcgan", "cgan", "selfcond"])
def test_resuming_gives_the_same_weights_as_an_uninterrupted_run(nb, tiny, tmp_path, kind):
    cfg, images, labels = tiny
    straight = nb["train_gan"](
        kind, cfg, images, labels[kind], quality_on=False, run_dir=tmp_path / "a", samples_dir=tmp_path
    )
    resumed = nb["train_gan"](
        kind,
        cfg,
        images,
        labels[kind],
        quality_on=False,
        resume_from=tmp_path / "a" / "checkpoints" / "epoch_001.pt",
        run_dir=tmp_path / "b",
        samples_dir=tmp_path / "b",
    )
    assert [r["epoch"] for r in resumed.history["epochs"]] == [1, 2]
    for network in ("generator", "discriminator", "sampler"):
        for name, value in weights(getattr(straight, network)).items():
            assert torch.equal(value, getattr(resumed, network).state_dict()[name]), f"{kind} {network}.{name} differs"


def test_a_run_killed_mid_epoch_logs_each_step_once_after_resuming(nb, tiny, tmp_path):
    cfg, images, labels = tiny
    nb["train_gan"]("cgan", cfg, images, labels["cgan"], quality_on=False, run_dir=tmp_path, samples_dir=tmp_path)
    (tmp_path / "checkpoints" / "epoch_002.pt").unlink()  # killed after logging epoch 2, before its checkpoint
    time.sleep(1.1)  # event files are named by the second they start in, and read back in name order
    gan = nb["train_gan"](
        "cgan", cfg, images, labels["cgan"], quality_on=False, resume_from=tmp_path, samples_dir=tmp_path
    )
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    steps = [event.step for event in events.Scalars("train/loss_d")]
    assert steps == list(range(1, 9)), steps
    assert [event.step for event in events.Scalars("speed/seconds")] == [4, 8]
    assert gan.history["step"] == steps


def test_a_diverging_run_stops_and_names_model_epoch_step(nb, tiny, tmp_path):
    cfg, images, labels = tiny
    wild = nb["replace"](cfg, lr_g=1e30, lr_d=1e30)
    with pytest.raises(
        nb["TrainingDiverged"], match=r"cgan diverged at epoch 1, step \d+: .*none \(the first epoch\).*GAN_LR_G"
    ):
        nb["train_gan"]("cgan", wild, images, labels["cgan"], run_dir=tmp_path, samples_dir=tmp_path)


def test_divergence_later_keeps_the_last_good_checkpoint(nb, tiny, tmp_path):
    cfg, images, labels = tiny
    nb["train_gan"](
        "cgan", nb["replace"](cfg, epochs_cgan=1), images, labels["cgan"], run_dir=tmp_path, samples_dir=tmp_path
    )
    wild = nb["replace"](cfg, lr_g=1e30, lr_d=1e30)
    with pytest.raises(nb["TrainingDiverged"], match=r"cgan diverged at epoch 2, step \d+: .*epoch_001\.pt"):
        nb["train_gan"]("cgan", wild, images, labels["cgan"], resume_from=tmp_path, samples_dir=tmp_path)
    assert nb["load_checkpoint"](tmp_path / "checkpoints" / "epoch_001.pt", "cpu")["epoch"] == 1
    assert not (tmp_path / "checkpoints" / "epoch_002.pt").exists()


def test_a_generator_that_ignores_its_noise_is_reported_collapsed(nb):
    generator = nb["build_networks"]("dcgan", nb["cfg"])[0].to(nb["device"])
    torch.nn.init.zeros_(generator.net[-2].weight)  # the last layer now draws its bias, whatever z is
    metrics = nb["measure_generator"](generator, "dcgan", nb["cfg"], 0, torch.float32)
    assert metrics["spread"] < 1e-6
    assert any(w.startswith("COLLAPSED") for w in nb["warnings_for"](metrics, nb["cfg"]))
    record = {"epoch": 1, "seconds": 1, "images_per_second": 1, "loss_d": 1, "loss_g": 1, "d_real": 0.5, "d_fake": 0.5}
    assert "WARNING, possible mode collapse: COLLAPSED" in nb["epoch_summary"](
        "dcgan", record | {"metrics": metrics}, nb["cfg"]
    )


def test_pictures_of_an_earlier_run_are_kept(nb, tmp_path):
    def choose(cfg):
        return nb["choose_samples_dir"](cfg, cfg.evaluator_path)

    cfg = nb["replace"](nb["cfg"], fast=False, samples_dir=str(tmp_path))
    assert choose(cfg) == str(tmp_path)  # an empty folder is used as it is
    (tmp_path / "cgan").mkdir()
    (tmp_path / "cgan" / "epoch_001.png").write_bytes(b"a picture")
    first, second = nb["Path"](choose(cfg)), nb["Path"](choose(cfg))
    assert first.parent == tmp_path and first.name.startswith("run-") and first != second  # even in the same second
    assert choose(nb["replace"](cfg, overwrite_samples=True)) == str(tmp_path)
    fast = nb["replace"](nb["cfg"], samples_dir="")
    assert not nb["Path"](choose(fast)).resolve().is_relative_to(nb["Path"]("generated_samples").resolve())


def test_generators_and_evaluators_of_an_earlier_run_are_kept(nb, tmp_path):
    """A folder with no pictures but a run's generator.pt, or an evaluator found nowhere else, is an earlier run's."""
    cfg = nb["replace"](nb["cfg"], fast=False, samples_dir=str(tmp_path / "samples"))
    cache = tmp_path / "cache.pt"
    cache.write_bytes(b"the evaluator this run loads")
    (tmp_path / "samples" / "cgan").mkdir(parents=True)
    (tmp_path / "samples" / "mnist_evaluator.pt").write_bytes(cache.read_bytes())  # a copy: not work of its own
    assert nb["choose_samples_dir"](cfg, str(cache)) == cfg.samples_dir
    (tmp_path / "samples" / "mnist_evaluator.pt").write_bytes(b"another run's evaluator")
    assert nb["Path"](nb["choose_samples_dir"](cfg, str(cache))).parent == tmp_path / "samples"
    (tmp_path / "samples" / "mnist_evaluator.pt").unlink()
    (tmp_path / "samples" / "cgan" / "generator.pt").write_bytes(b"a trained generator")
    assert nb["Path"](nb["choose_samples_dir"](cfg, str(cache))).parent == tmp_path / "samples"
    run = nb["Run"].__new__(nb["Run"])  # the per-model check of train_gan, on its own
    run.cfg, run.kind, run.first_epoch, run.resumed_samples_dir = cfg, "cgan", 1, None
    chosen = run.choose_samples_dir(tmp_path / "samples" / "cgan")
    assert chosen.parent.parent == tmp_path / "samples" and chosen.parent.name.startswith("run-")
    assert (tmp_path / "samples" / "cgan" / "generator.pt").read_bytes() == b"a trained generator"


def test_checkpoint_mistakes_get_clear_messages(nb, tiny, tmp_path):
    cfg, images, labels = tiny
    load = nb["load_generator"]
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load(tmp_path / "epoch_099.pt", "cpu")
    (tmp_path / "epoch_001.pt").write_bytes(b"half a checkpoint")
    with pytest.raises(ValueError, match="is not a readable checkpoint"):
        load(tmp_path / "epoch_001.pt", "cpu")
    one = nb["replace"](cfg, epochs_selfcond=1)
    nb["train_gan"](
        "selfcond", one, images, labels["selfcond"], quality_on=False, run_dir=tmp_path / "run", samples_dir=tmp_path
    )
    for changed, message in [
        ({"latent_dim": 64}, "GAN_LATENT_DIM=64, the checkpoint needs GAN_LATENT_DIM=100"),
        ({"seed": 7}, "GAN_SEED=7, the checkpoint needs GAN_SEED=42"),
        ({"betas": (0.5, 0.999)}, "GAN_BETAS=0.5,0.999, the checkpoint needs GAN_BETAS=0.0,0.99"),
    ]:
        with pytest.raises(ValueError, match=message):
            nb["train_gan"](
                "selfcond", nb["replace"](cfg, **changed), images, labels["selfcond"], resume_from=tmp_path / "run"
            )
    with pytest.raises(ValueError, match="is a selfcond checkpoint; it cannot resume a cgan"):
        nb["train_gan"]("cgan", cfg, images, labels["cgan"], resume_from=tmp_path / "run")


def test_resume_problems_are_found_before_any_work(nb, tiny, tmp_path):
    cfg, images, labels = tiny
    nb["train_gan"](
        "cgan", nb["replace"](cfg, epochs_cgan=1), images, labels["cgan"], quality_on=False, run_dir=tmp_path
    )
    settings = nb["settings_from_env"]
    base = {"GAN_FAST": "1", "GAN_RUNS_DIR": str(tmp_path)}
    with pytest.raises(ValueError, match="GAN_RESUME_SELFCOND=.* is a cgan checkpoint; it cannot resume a selfcond"):
        settings(base | {"GAN_RESUME_SELFCOND": str(tmp_path)})
    with pytest.raises(ValueError, match=r"GAN_RESUME_CGAN=.* already has 1 epochs: set GAN_EPOCHS_CGAN above 1"):
        settings(base | {"GAN_RESUME_CGAN": str(tmp_path)})
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="GAN_RESUME_CGAN=.* is not a readable checkpoint"):
        settings(base | {"GAN_RESUME_CGAN": str(tmp_path / "junk.pt"), "GAN_EPOCHS_CGAN": "2"})
    torch.save({"format": "someone-elses-v1", "epoch": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="GAN_RESUME_CGAN=.* was not written by this version of the notebook"):
        settings(base | {"GAN_RESUME_CGAN": str(tmp_path / "foreign.pt"), "GAN_EPOCHS_CGAN": "2"})


def test_resume_mistakes_with_run_folders_are_found_before_any_work(nb, tiny, tmp_path):
    """Resuming from an older checkpoint of a run that went on, a checkpoints/ folder, the runs folder, a copy."""
    cfg, images, labels = tiny
    run = tmp_path / "runs" / "cgan-run"
    nb["train_gan"]("cgan", cfg, images, labels["cgan"], quality_on=False, run_dir=run, samples_dir=tmp_path)
    settings = nb["settings_from_env"]
    base = {"GAN_FAST": "1", "GAN_RUNS_DIR": str(tmp_path / "runs"), "GAN_EPOCHS_CGAN": "3"}
    older = run / "checkpoints" / "epoch_001.pt"
    with pytest.raises(ValueError, match=r"GAN_RESUME_CGAN=.* continues past epoch_001.pt \(epoch_002.pt\): give "):
        settings(base | {"GAN_RESUME_CGAN": str(older)})
    (run / "checkpoints" / "epoch_002 (copy).pt").write_bytes(b"a user's copy, not a checkpoint of the run")
    assert nb["latest_checkpoint"](run).name == "epoch_002.pt"
    assert nb["latest_checkpoint"](run / "checkpoints") == run / "checkpoints" / "epoch_002.pt"
    assert settings(base | {"GAN_RESUME_CGAN": str(run / "checkpoints")}).resume_cgan == str(run / "checkpoints")
    with pytest.raises(ValueError, match=f"holds no checkpoints/epoch_NNN.pt: give one run folder, such as {run}"):
        settings(base | {"GAN_RESUME_CGAN": str(tmp_path / "runs")})
    generator = tmp_path / "cgan" / "generator.pt"  # what train_gan shipped beside the pictures
    with pytest.raises(ValueError, match="generator.pt is a generator for drawing, not a checkpoint: give its run"):
        settings(base | {"GAN_RESUME_CGAN": str(generator)})
