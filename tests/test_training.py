"""The training step's pieces: the moving average matches torch's AveragedModel maths without reading the device."""

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
