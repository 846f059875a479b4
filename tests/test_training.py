"""The training step's pieces: the moving average matches torch's AveragedModel maths without reading the device."""

from types import SimpleNamespace

import pytest
import torch
from torch.optim.swa_utils import AveragedModel


def reference_update(decay):
    """The maths of the notebook's earlier AveragedModel update: decay min(decay, (1 + n) / (10 + n))."""

    def update(averaged, current, num_averaged):
        weight = 1 - torch.clamp((1 + num_averaged) / (10 + num_averaged), max=decay)
        for average, value in zip(averaged, current):
            if average.is_floating_point():
                average.lerp_(value, weight.to(average.dtype))
            else:
                average.copy_(value)

    return update


def test_the_projection_is_a_transposed_convolution_of_z_as_a_1x1_image(nb):
    """Section 4's claim: project() computes what ConvTranspose2d(inputs, channels, side) makes of a 1x1 input."""
    linear, unflatten, batchnorm, relu = nb["project"](5, 3, side=4)
    transposed = torch.nn.ConvTranspose2d(5, 3, kernel_size=4, bias=False)
    with torch.no_grad():
        transposed.weight.copy_(linear.weight.T.reshape(5, 3, 4, 4))
    z = torch.randn(2, 5)
    torch.testing.assert_close(unflatten(linear(z)), transposed(z[:, :, None, None]))
    assert isinstance(batchnorm, torch.nn.BatchNorm2d) and batchnorm.num_features == 3


def test_moving_average_matches_averaged_model(nb, monkeypatch):
    generator, _ = nb["build_networks"]("cgan", nb["cfg"])
    reference = AveragedModel(generator, multi_avg_fn=reference_update(0.99), use_buffers=True)
    ours = nb["MovingAverage"](generator, 0.99)
    labels = torch.arange(8) % 10
    for _ in range(40):
        with torch.no_grad():
            for parameter in generator.parameters():
                parameter.add_(0.01 * torch.randn_like(parameter))
        generator.train()(torch.randn(8, nb["cfg"].latent_dim), labels)  # moves BatchNorm's running statistics
        reference.update_parameters(generator)
        with monkeypatch.context() as patch:  # a host read of a tensor inside the update would fail here
            patch.setattr(torch.Tensor, "__bool__", lambda self: pytest.fail("the update reads a tensor"))
            patch.setattr(torch.Tensor, "item", lambda self: pytest.fail("the update reads a tensor"))
            ours.update(generator)
    for (name, expected), actual in zip(reference.module.state_dict().items(), ours.module.state_dict().values()):
        assert torch.allclose(expected.float(), actual.float(), rtol=0, atol=1e-6), name
    assert ours.updates == reference.n_averaged.item() == 40


def test_float32_steps_enter_no_autocast_context(nb, tiny, monkeypatch):
    cfg, images, labels = tiny
    gan = nb["GAN"]("dcgan", nb["replace"](cfg, precision="fp32"), images.device)
    monkeypatch.setattr(torch, "autocast", lambda *a, **k: pytest.fail("autocast entered in float32"))
    stats = nb["train_step"](gan, images[: cfg.batch_size], None, 0.1)
    assert torch.isfinite(stats).all()


def test_a_shipped_generator_draws_like_the_trained_one_and_a_damaged_one_is_refused(
    nb, tiny, tmp_path, monkeypatch, assert_same_weights
):
    cfg, images, labels = tiny
    gan = nb["train_gan"](
        "cgan", nb["replace"](cfg, epochs_cgan=1), images, labels["cgan"], quality_on=False, samples_dir=tmp_path
    )
    monkeypatch.setitem(nb, "SHIPPED_DIR", tmp_path)
    nb["check_shipped"](tmp_path / "cgan" / "generator.pt")
    shipped = nb["ShippedGAN"]("cgan", nb["replace"](cfg, samples_dir=str(tmp_path / "new")))
    assert_same_weights(gan.sampler, shipped.sampler)
    assert shipped.history["epochs"] == gan.history["epochs"]
    assert nb["load_generator"](tmp_path / "cgan" / "generator.pt", "cpu").num_classes == 10
    in_place = nb["ShippedGAN"]("cgan", nb["replace"](cfg, samples_dir=str(tmp_path)))  # GAN_OVERWRITE_SAMPLES=1
    assert in_place.samples_dir == tmp_path / "cgan" and (tmp_path / "cgan" / "epoch_001.png").stat().st_size > 0
    with open(tmp_path / "cgan" / "generator.pt", "ab") as file:
        file.write(b"damage")
    with pytest.raises(ValueError, match=r"generator\.pt is damaged .*git checkout it again"):
        nb["check_shipped"](tmp_path / "cgan" / "generator.pt")
    with pytest.raises(ValueError, match=r"GAN_TRAIN=0 needs .*dcgan.generator\.pt"):
        nb["check_shipped"](tmp_path / "dcgan" / "generator.pt")


def test_train_0_reads_each_shipped_file_once(nb, tiny, tmp_path, monkeypatch):
    cfg, images, labels = tiny
    nb["train_gan"]("dcgan", cfg, images, quality_on=False, samples_dir=tmp_path)
    path = tmp_path / "dcgan" / "generator.pt"
    monkeypatch.setitem(nb, "SHIPPED_DIR", tmp_path)
    monkeypatch.setitem(nb, "SHIPPED_FILES", {path: nb["check_shipped"](path)})  # as the early check leaves it
    reads, real_read, real_load = [], type(path).read_bytes, torch.load

    def load_from_memory_only(source, *args, **kwargs):
        if not hasattr(source, "read"):
            pytest.fail(f"torch.load read {source} again")
        return real_load(source, *args, **kwargs)

    monkeypatch.setattr(type(path), "read_bytes", lambda self: reads.append(self.name) or real_read(self))
    monkeypatch.setattr(torch, "load", load_from_memory_only)
    shipped = nb["ShippedGAN"]("dcgan", nb["replace"](cfg, samples_dir=str(tmp_path / "new")))
    assert "generator.pt" not in reads and nb["SHIPPED_FILES"] == {}
    assert (tmp_path / "new" / "dcgan" / "generator.pt").read_bytes() == real_read(path)
    assert shipped.sampler.latent_dim == cfg.latent_dim


def test_the_live_view_redraws_one_output_and_headless_runs_log_progress(nb, tiny, capsys, monkeypatch):
    cfg, images, labels = tiny
    monkeypatch.setitem(nb, "HEADLESS", True)
    run = SimpleNamespace(epochs=2, cfg=nb["replace"](cfg, progress_line_seconds=0))  # the run's settings, not cfg's
    assert list(nb["LiveView"]("dcgan").steps(3, 1, run)) == [0, 1, 2]
    lines = [line for line in capsys.readouterr().out.splitlines() if "dcgan epoch 1/2, step" in line]
    assert len(lines) == 3 and "img/s" in lines[0] and "min of training left" in lines[0], lines


def test_benchmark_alternates_the_loops_so_a_busy_host_slows_both_alike(nb, monkeypatch):
    """A fake clock: the second loop costs half the first, and the host turns three times slower halfway."""
    clock = {"now": 0.0, "calls": 0}

    def costs(seconds):
        def step(i):
            clock["calls"] += 1
            clock["now"] += seconds * (3 if clock["calls"] > 44 else 1)  # 44 = warm-up and the first two rounds

        return step

    monkeypatch.setattr(nb["time"], "perf_counter", lambda: clock["now"])
    (slow, fast), speedup = nb["paired_speeds"]([costs(1.0), costs(0.5)], warmup=2, rounds=4, iterations=10)
    assert speedup == pytest.approx(2.0)  # timed one after the other, the slowdown would read as 2/3
    assert fast / slow == pytest.approx(2.0)
    assert clock["calls"] == 2 * (2 + 4 * 10)


def test_the_learning_rates_cool_down_over_the_chosen_last_share_of_a_run(nb, tiny, tmp_path):
    cfg, images, labels = tiny  # 2 epochs of 4 steps, G's learning rate logged after every step
    cfg = nb["replace"](cfg, cooldown_cgan=0.5, cooldown_dcgan=0.0)
    cgan = nb["train_gan"](
        "cgan", cfg, images, labels["cgan"], quality_on=False, run_dir=tmp_path / "c", samples_dir=tmp_path
    )
    # step k of 8 runs at min(1, (1 - (k - 1) / 8) / 0.5) of the set rates: 1 for the first half, then 1 down to 0.25
    shares = [min(1.0, (1 - (k - 1) / 8) / 0.5) for k in range(1, 9)]
    assert cgan.history["lr_g"] == pytest.approx([cfg.lr_g * s for s in shares])
    assert cgan.opt_d.param_groups[0]["lr"] == pytest.approx(cfg.lr_d * 0.25)
    dcgan = nb["train_gan"]("dcgan", cfg, images, None, quality_on=False, run_dir=tmp_path / "d", samples_dir=tmp_path)
    assert dcgan.history["lr_g"] == [cfg.lr_g] * 8


def test_measuring_in_bf16_reads_real_digits_as_float32_does(nb, monkeypatch):
    """Drawing and measuring run in the training's precision; in bf16 the evaluator must still agree with float32."""
    images, digits = nb["test_images"][:1000], nb["test_labels"][:1000]
    measured = {}
    for dtype in (torch.float32, torch.bfloat16):
        monkeypatch.setitem(nb, "PRECISION", dtype)
        measured[dtype] = nb["quality"].measure(images, requested_digits=digits)
    fp32, bf16 = measured[torch.float32], measured[torch.bfloat16]
    assert abs(bf16["conditional_accuracy"] - fp32["conditional_accuracy"]) <= 0.003
    assert abs(bf16["unsure_share"] - fp32["unsure_share"]) <= 0.005
    assert abs(bf16["fid"] - fp32["fid"]) <= 0.05 * fp32["fid"] + 0.02, (fp32["fid"], bf16["fid"])


def test_a_run_draws_in_its_own_precision_whatever_the_notebooks(nb, tiny, tmp_path, monkeypatch):
    """The epoch grid and the measured samples come in the precision the run's cfg trains in, not the notebook's."""
    cfg, images, labels = tiny
    drawn = []
    real_sample = nb["sample"]
    monkeypatch.setitem(
        nb,
        "sample",
        lambda generator, z, labels=None, dtype=None: drawn.append(dtype) or real_sample(generator, z, labels, dtype),
    )
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        drawn.clear()
        run_cfg = nb["replace"](cfg, precision=precision, epochs_dcgan=1, metrics_every=1)
        nb["train_gan"](
            "dcgan",
            run_cfg,
            images,
            None,
            quality_on=True,
            run_dir=tmp_path / precision,
            samples_dir=tmp_path / precision,
        )
        assert drawn and set(drawn) == {dtype}, (precision, drawn)


def test_train_0_names_the_settings_that_changed_the_shipped_evaluators_recipe(nb, tmp_path, monkeypatch):
    cfg = nb["replace"](nb["cfg"], train=False, evaluator_path=str(tmp_path / "none.pt"))
    shipped = nb["load_tensors"](nb["SHIPPED_DIR"] / "mnist_evaluator.pt", "cpu")["recipe"]
    same = {name: value for name, value in shipped.items() if name != "version"}
    changed = nb["replace"](cfg, **same | {"evaluator_epochs": shipped["evaluator_epochs"] + 1})
    with pytest.raises(ValueError, match=r"committed run's evaluator, but GAN_EVALUATOR_EPOCHS changed its recipe"):
        nb["load_or_train_evaluator"](changed, required_accuracy=0.99)
    fast = nb["replace"](cfg, **same | {"evaluator_epochs": 1, "evaluator_train_subset": 30_000})  # as GAN_FAST sets
    with pytest.raises(ValueError, match=r"GAN_EVALUATOR_EPOCHS, GAN_EVALUATOR_TRAIN_SUBSET changed .*GAN_FAST"):
        nb["load_or_train_evaluator"](fast, required_accuracy=0.99)
