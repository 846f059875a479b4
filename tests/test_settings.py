"""Every bad setting is refused by the settings cell, before any work, with a message naming GAN_<FIELD>."""

import pytest

from conftest import run_notebook_until


@pytest.fixture(scope="module")
def settings():
    return run_notebook_until("def pick_device")["settings_from_env"]


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"GAN_LATENT_DIM": "0"}, "GAN_LATENT_DIM=0 is not allowed: use an integer from 1 to 4,096"),
        ({"GAN_LATENT_DIM": "1000000000"}, "GAN_LATENT_DIM=1000000000 is not allowed: use an integer from 1 to 4,096"),
        ({"GAN_G_WIDTH": "100000"}, "GAN_G_WIDTH=100000 is not allowed: use an integer from 1 to 1,024"),
        (
            {"GAN_EVALUATOR_TRAIN_SUBSET": "100"},
            "GAN_EVALUATOR_BATCH_SIZE=128 is more than the 100 images the evaluator trains on",
        ),
        ({"GAN_FAST": "1", "GAN_CLASS_RUN": "1"}, "GAN_FAST=1 and GAN_CLASS_RUN=1 are two presets"),
        ({"GAN_BENCHMARK_WORKERS": "100"}, "GAN_BENCHMARK_WORKERS=100 is not allowed: use an integer from 0 to 32"),
        ({"GAN_INSTANCE_NOISE_START": "-0.5"}, "GAN_INSTANCE_NOISE_START=-0.5 is not allowed: use a number in [0, 2]"),
        ({"GAN_BATCH_SIZE": "0"}, "GAN_BATCH_SIZE=0 is not allowed: use an integer >= 1"),
        ({"GAN_LR_G": "-1"}, "GAN_LR_G=-1.0 is not allowed: use a number in (0, 1]"),
        ({"GAN_LR_G": "10", "GAN_LR_D": "10"}, "GAN_LR_G=10.0 is not allowed"),
        ({"GAN_LR_D": "1e30"}, "GAN_LR_D=1e+30 is not allowed"),
        ({"GAN_LR_D": "nan"}, "GAN_LR_D='nan' is not a finite number"),
        ({"GAN_D_DROPOUT": "1"}, "GAN_D_DROPOUT=1.0 is not allowed: use a number in [0, 1)"),
        ({"GAN_EMA_DECAY": "1.5"}, "GAN_EMA_DECAY=1.5 is not allowed"),
        ({"GAN_COOLDOWN_CGAN": "1"}, "GAN_COOLDOWN_CGAN=1.0 is not allowed: use a number in [0, 1)"),
        ({"GAN_REAL_TARGET_LOW": "0"}, "GAN_REAL_TARGET_LOW=0.0 is not allowed"),
        ({"GAN_EPOCHS_CGAN": "0"}, "GAN_EPOCHS_CGAN=0 is not allowed"),
        ({"GAN_EPOCHS_CGAN": "ten"}, "GAN_EPOCHS_CGAN='ten' is not a valid int"),
        ({"GAN_SELFCOND_GROUPS": "1"}, "GAN_SELFCOND_GROUPS=1 is not allowed"),
        ({"GAN_MODELS": "dcgan,vae"}, "GAN_MODELS='dcgan,vae': name some of dcgan, cgan, selfcond"),
        ({"GAN_DEVICE": "tpu"}, "GAN_DEVICE='tpu' is not allowed: use auto, cuda, mps or cpu"),
        ({"GAN_PRECISION": "fp16"}, "GAN_PRECISION='fp16' is not allowed: use auto, bf16 or fp32"),
        ({"GAN_BETAS": "0.5"}, "GAN_BETAS=(0.5,) is not allowed: use two numbers in [0, 1)"),
        ({"GAN_EPOCS_CGAN": "3"}, "unknown setting(s) GAN_EPOCS_CGAN"),
        ({"GAN_FAST": "1", "GAN_BATCH_SIZE": "4096"}, "GAN_BATCH_SIZE=4096 is more than the 2,048 training images"),
        ({"GAN_FAST": "1", "GAN_SELFCOND_GROUPS": "3000"}, "GAN_SELFCOND_GROUPS=3000 is more groups than the 2,048"),
        ({"GAN_RESUME_CGAN": "/nope"}, "GAN_RESUME_CGAN='/nope' does not exist: give a run folder under"),
        ({"GAN_MODELS": "dcgan", "GAN_RESUME_CGAN": "/nope"}, "GAN_RESUME_CGAN is set, but cgan is not in GAN_MODELS"),
        ({"GAN_SEED": "-1"}, "GAN_SEED=-1 is not allowed: use an integer from 0 to 2**32 - 1"),
        ({"GAN_RUNS_DIR": ""}, "GAN_RUNS_DIR='' is not a folder"),
        ({"GAN_SAMPLES_DIR": __file__}, "is not a folder: name a folder"),
        ({"GAN_Epochs_dcgan": "7"}, "unknown setting(s) GAN_Epochs_dcgan"),
        # settings that would fail only after training (issue 16), refused now
        (
            {"GAN_FAST": "1", "GAN_LOG_EVERY": "100000"},
            "GAN_LOG_EVERY=100000 is more than the 64 steps of an epoch: use 1 to 64",
        ),
        (
            {"GAN_FAST": "1", "GAN_METRIC_SAMPLES": "100000000"},
            "use 100 to 10,000 (fewer measure nothing; the real digits' baseline",
        ),
        (
            {"GAN_FAST": "1", "GAN_GIF_SECONDS_PER_FRAME": "700"},
            "GAN_GIF_SECONDS_PER_FRAME=700.0 is not allowed: use 0.01 to 327.67",
        ),
        (
            {"GAN_FAST": "1", "gan_epochs_cgan": "3"},
            "unknown setting(s) gan_epochs_cgan: every GAN_<FIELD> must name a field",
        ),
        (
            {"GAN_FAST": "1", "GAN_SAMPLES_DIR": " "},
            "GAN_SAMPLES_DIR=' ' has blanks at an end or unprintable characters",
        ),
        ({"GAN_FAST": "1", "GAN_RUNS_DIR": "runs\n"}, "GAN_RUNS_DIR='runs\\n' has blanks at an end"),
        (
            {"GAN_FAST": "1", "GAN_SAMPLES_DIR": __file__ + "/sub"},
            "cannot be made: " + __file__ + " is a file, not a folder",
        ),
        ({"GAN_FAST": "1", "GAN_TENSORBOARD": "yes"}, "GAN_TENSORBOARD='yes' is not allowed: use auto, on or off"),
    ],
)
def test_bad_setting_is_refused_with_its_name(settings, environ, message):
    with pytest.raises(ValueError) as error:
        settings(environ)
    assert message in str(error.value)


def test_good_settings_pass(settings):
    cfg = settings({"GAN_EPOCHS_CGAN": "3", "GAN_MODELS": "cgan", "GAN_LR_G": "4e-4", "GAN_SAMPLES_DIR": "/tmp/x"})
    assert (cfg.epochs_cgan, cfg.models, cfg.lr_g) == (3, "cgan", 4e-4)


def test_only_the_cgan_cools_down_by_default_and_not_in_a_class_period(settings):
    default, class_run = settings({}), settings({"GAN_CLASS_RUN": "1"})
    assert (default.cooldown_dcgan, default.cooldown_selfcond) == (0.0, 0.0) and 0 < default.cooldown_cgan < 1
    assert (class_run.epochs_cgan, class_run.cooldown_cgan) == (2, 0.0)
    assert settings({"GAN_CLASS_RUN": "1", "GAN_COOLDOWN_CGAN": "0.5"}).cooldown_cgan == 0.5  # a variable still wins
