"""CUDA's code paths (channels_last, fused Adam) and bf16 autocast forced on the CPU; where a GPU is, no host sync."""

import math

import pytest
import torch

TORCH_VERSION = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])
CPU_FUSED_ADAM = TORCH_VERSION >= (2, 4)  # fused Adam on the CPU


@pytest.mark.skipif(
    not CPU_FUSED_ADAM, reason="torch < 2.4 has fused Adam on CUDA only, so it cannot be forced on the CPU"
)
@pytest.mark.parametrize("kind", ["dcgan", "cgan", "selfcond"])
def test_gpu_kernels_and_bf16_train_and_round_trip(nb, tiny, tmp_path, kind, assert_same_weights):
    cfg, images, labels = tiny
    forced = nb["replace"](cfg, gpu_kernels="on", precision="bf16")
    gan = nb["train_gan"](kind, forced, images, labels[kind], quality_on=False, run_dir=tmp_path, samples_dir=tmp_path)
    assert gan.dtype == torch.bfloat16 and gan.opt_g.defaults["fused"] and gan.opt_d.defaults["fused"]
    upsample = next(layer for layer in gan.generator.net if isinstance(layer, torch.nn.ConvTranspose2d))
    assert upsample.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(math.isfinite(r[name]) for r in gan.history["epochs"] for name in nb["STAT_NAMES"])
    assert_same_weights(gan.sampler, nb["load_generator"](tmp_path, "cpu"))


def test_precision_follows_the_device(nb, tmp_path, monkeypatch):
    auto = nb["replace"](nb["cfg"], precision="auto")
    cpuinfo = tmp_path / "cpuinfo"
    for flags, native in [("fpu sse2 avx2 avx512f", False), ("fpu avx512f avx512_bf16", True), ("fpu amx_bf16", True)]:
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        assert nb["cpu_computes_bf16"](cpuinfo) == native, flags
    assert not nb["cpu_computes_bf16"](tmp_path / "no-such-file")  # macOS, Windows: float32
    monkeypatch.setitem(nb, "cpu_computes_bf16", lambda: False)
    assert nb["autocast_dtype"](auto, torch.device("cpu")) == torch.float32
    monkeypatch.setitem(nb, "cpu_computes_bf16", lambda: True)
    assert nb["autocast_dtype"](auto, torch.device("cpu")) == torch.bfloat16
    assert nb["autocast_dtype"](auto, torch.device("mps")) == torch.float32
    assert nb["autocast_dtype"](auto, torch.device("cuda")) == torch.float32  # a GPU step waits on the host
    assert nb["autocast_dtype"](nb["replace"](auto, precision="bf16"), torch.device("cuda")) == torch.bfloat16
    assert nb["autocast_dtype"](nb["replace"](auto, precision="bf16"), torch.device("cpu")) == torch.bfloat16
    assert not nb["use_gpu_kernels"](nb["replace"](nb["cfg"], gpu_kernels="auto"), torch.device("cpu"))


def test_cuda_runs_choose_repeatable_kernels(nb, monkeypatch):
    """Exact resuming on a GPU needs kernels that repeat bit for bit; the CPU's do already, and the setting can say no."""
    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *args, **kw: calls.append((args, kw)))
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "restored after the test")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    cfg, cuda = nb["replace"](nb["cfg"], deterministic=True), torch.device("cuda")
    assert not nb["repeatable_kernels"](cfg, torch.device("cpu"))
    assert not nb["repeatable_kernels"](nb["replace"](cfg, deterministic=False), cuda)
    assert calls == 2 * [((False,), {"warn_only": True})] and torch.backends.cudnn.benchmark
    assert nb["repeatable_kernels"](cfg, cuda)
    assert calls[-1] == ((True,), {"warn_only": True}) and not torch.backends.cudnn.benchmark
    assert not nb["repeatable_kernels"](nb["replace"](cfg, deterministic=False), cuda)  # set again: switched off
    assert calls[-1] == ((False,), {"warn_only": True})
    assert nb["os"].environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_forced_bf16_on_a_cpu_without_it_warns(nb, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpu, forced = torch.device("cpu"), nb["replace"](nb["cfg"], precision="bf16")
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n")
    assert "GAN_PRECISION=auto" in nb["emulated_bf16_warning"](forced, cpu, cpuinfo)
    assert nb["emulated_bf16_warning"](nb["replace"](forced, precision="auto"), cpu, cpuinfo) == ""
    assert nb["emulated_bf16_warning"](forced, torch.device("cuda"), cpuinfo) == ""
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n")
    assert nb["emulated_bf16_warning"](forced, cpu, cpuinfo) == ""


def test_compiled_networks_train_and_round_trip(nb, tiny, tmp_path, assert_same_weights):
    """torch.compile on the CPU (about half a minute on 2 cores): finite losses, exact checkpoint round trip."""
    cfg, images, labels = tiny
    compiled = nb["replace"](cfg, compile=True, epochs_cgan=1)
    gan = nb["train_gan"](
        "cgan", compiled, images, labels["cgan"], quality_on=False, run_dir=tmp_path, samples_dir=tmp_path
    )
    assert all(math.isfinite(gan.history["epochs"][-1][name]) for name in nb["STAT_NAMES"])
    assert_same_weights(gan.sampler, nb["load_generator"](tmp_path, "cpu"))


def test_fused_adam_where_torch_has_it(nb):
    auto, on, off = (nb["replace"](nb["cfg"], gpu_kernels=value) for value in ("auto", "on", "off"))
    cases = [
        (auto, "cpu", "2.2.2+cpu", False),  # foreach Adam: fused came to the CPU with torch 2.4
        (auto, "cpu", "2.4.0", True),
        (auto, "cuda", "2.2.2", True),
        (auto, "mps", "2.9.0", False),
        (off, "cuda", "2.9.0", False),
        (on, "cpu", "2.9.0", True),
    ]
    for cfg, device, version, fused in cases:
        assert nb["use_fused_adam"](cfg, torch.device(device), version=version) == fused, (cfg.gpu_kernels, device)


@pytest.mark.skipif(not CPU_FUSED_ADAM, reason="torch < 2.4 has no fused Adam on the CPU")
def test_fused_adam_on_the_cpu_updates_like_foreach_adam(nb):
    """The CPU default changed from foreach to fused Adam for speed: the same maths, to float32 rounding."""
    torch.manual_seed(0)
    generators = [nb["Generator"](nb["cfg"].latent_dim, 8) for _ in range(2)]
    generators[1].load_state_dict(generators[0].state_dict())
    start = [weight.detach().clone() for weight in generators[0].parameters()]
    optimisers = [
        torch.optim.Adam(generators[0].parameters(), lr=1e-3, betas=(0.5, 0.999), foreach=True),
        torch.optim.Adam(generators[1].parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True),
    ]
    for _ in range(5):
        z = torch.randn(4, nb["cfg"].latent_dim)
        for generator, optimiser in zip(generators, optimisers):
            optimiser.zero_grad()
            generator(z).square().mean().backward()
            optimiser.step()
    assert max((a - b).abs().max().item() for a, b in zip(generators[0].parameters(), start)) > 1e-3  # they moved
    for (name, a), b in zip(generators[0].named_parameters(), generators[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_gpu_kernels_off_cuda_need_torch_2_4(nb):
    forced, auto = nb["replace"](nb["cfg"], gpu_kernels="on"), nb["replace"](nb["cfg"], gpu_kernels="auto")
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    with pytest.raises(ValueError, match=r"GAN_GPU_KERNELS=on needs fused Adam on the cpu, which torch 2\.2\.2\+cpu"):
        nb["check_gpu_kernels"](forced, cpu, version="2.2.2+cpu")
    for cfg, device, version in [(forced, cpu, "2.4.0"), (forced, cuda, "2.2.2"), (auto, cpu, "2.2.2")]:
        nb["check_gpu_kernels"](cfg, device, version=version)  # allowed: no error
    with pytest.raises(ValueError, match="GAN_PRECISION=bf16: torch's autocast on MPS has no bf16"):
        nb["check_gpu_kernels"](nb["replace"](auto, precision="bf16"), torch.device("mps"))
    nb["check_gpu_kernels"](nb["replace"](auto, precision="auto"), torch.device("mps"))


@pytest.mark.skipif(not CPU_FUSED_ADAM, reason="torch < 2.4 has fused Adam on CUDA only")
def test_a_resumed_run_uses_this_machines_adam_not_the_checkpoints(nb, tiny, tmp_path):
    """A checkpoint saved with fused Adam (CUDA, or a CPU with torch >= 2.4) resumes where fused Adam is off."""
    cfg, images, labels = tiny
    fused = nb["replace"](cfg, gpu_kernels="on", epochs_cgan=1)
    nb["train_gan"]("cgan", fused, images, labels["cgan"], quality_on=False, run_dir=tmp_path, samples_dir=tmp_path)
    plain = nb["replace"](cfg, gpu_kernels="off", epochs_cgan=2)
    gan = nb["train_gan"]("cgan", plain, images, labels["cgan"], quality_on=False, resume_from=tmp_path)
    for optimizer in (gan.opt_g, gan.opt_d):
        assert all(not group["fused"] and group["foreach"] for group in optimizer.param_groups)
    assert len(gan.history["epochs"]) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("kind", ["dcgan", "cgan", "selfcond"])
def test_no_step_makes_the_host_wait_on_cuda(nb, tiny, kind):
    """torch's sync debug mode raises where the loop body makes the host wait for the GPU (.item(), blocking copies)."""
    cfg, images, labels = tiny
    cuda = torch.device("cuda")
    images, labels = images.to(cuda), None if labels[kind] is None else labels[kind].to(cuda)
    prior = torch.full((cfg.selfcond_groups,), 1 / cfg.selfcond_groups, device=cuda) if kind == "selfcond" else None
    gan = nb["GAN"](kind, cfg, cuda, prior)
    order = torch.randperm(len(images), device=cuda)
    for step in range(len(images) // cfg.batch_size):
        torch.cuda.set_sync_debug_mode("error" if step else "default")  # the first step may set things up
        try:
            nb["cool_down"](gan, step / 100)
            batch = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            stats = nb["train_step"](gan, images[batch], None if labels is None else labels[batch], 0.05)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(stats).all()
