"""TensorBoard shows each run as one HParams row, its tags grouped by what a reader looks for, D(x) beside D(G(z))."""

import math
import time

from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import api_pb2, metadata
from tensorboard.util import tensor_util


def test_a_run_is_an_hparams_row_with_grouped_tags_and_one_chart_for_d(nb, tiny, tmp_path):
    cfg, images, labels = tiny
    one = nb["replace"](cfg, epochs_cgan=1)
    nb["train_gan"]("cgan", one, images, labels["cgan"], run_dir=tmp_path, samples_dir=tmp_path)
    time.sleep(1.1)  # event files are named by the second they start in, and read back in name order
    gan = nb["train_gan"]("cgan", cfg, images, labels["cgan"], resume_from=tmp_path, samples_dir=tmp_path)
    events = EventAccumulator(str(tmp_path))
    events.Reload()

    hparams = events.PluginTagToContent("hparams")
    start = metadata.parse_session_start_info_plugin_data(hparams[metadata.SESSION_START_INFO_TAG]).hparams
    assert start["model"].string_value == "cgan" and start["d_spectral_norm"].bool_value is True
    for name in ("lr_g", "lr_d", "batch_size", "ema_decay", "seed", "g_width", "latent_dim", "label_embed_std"):
        assert math.isclose(start[name].number_value, getattr(cfg, name), rel_tol=1e-6), name
    assert "selfcond_groups" not in start and "data_dir" not in start  # only what a cGAN uses
    assert (
        math.isclose(start["cooldown"].number_value, cfg.cooldown_cgan, rel_tol=1e-6) and "cooldown_cgan" not in start
    )
    end = metadata.parse_session_end_info_plugin_data(hparams[metadata.SESSION_END_INFO_TAG])
    assert end.status == api_pb2.STATUS_SUCCESS
    experiment = metadata.parse_experiment_plugin_data(hparams[metadata.EXPERIMENT_TAG])
    assert "selfcond_groups" in {info.name for info in experiment.hparam_infos}  # the same columns for every model
    columns = [info.name.tag for info in experiment.metric_infos]
    assert columns == [f"quality/{name}" for name in nb["HPARAM_METRICS"]]
    final = gan.history["epochs"][-1]["metrics"]  # the row shows the resumed run's last measurement
    for tag in columns:
        last = events.Tensors(tag)[-1]
        assert last.step == 8 and math.isclose(
            tensor_util.make_ndarray(last.tensor_proto).item(), final[tag[8:]], rel_tol=1e-5
        )

    tags = set(events.Tags()["tensors"])
    assert {f"quality/{name}" for name in nb["QUALITY_KEYS"]} <= tags
    assert {"speed/seconds", "speed/train_seconds", "speed/images_per_second", "train/instance_noise_sigma"} <= tags
    assert {"train/loss_d", "train/loss_g", "train/d_real", "train/d_fake"} <= tags
    assert not [tag for tag in tags if tag.startswith("epoch/")]

    layout = layout_pb2.Layout()
    layout.ParseFromString(tensor_util.make_ndarray(events.Tensors("custom_scalars__config__")[0].tensor_proto).item())
    charts = {chart.title: list(chart.multiline.tag) for category in layout.category for chart in category.chart}
    assert charts["D(x) and D(G(z))"] == ["train/d_real", "train/d_fake"]
    assert charts["losses of D and G"] == ["train/loss_d", "train/loss_g"]

    text = tensor_util.make_ndarray(events.Tensors("settings/text_summary")[-1].tensor_proto).item().decode()
    assert text.startswith("| setting | value |") and f"| `lr_d` | {cfg.lr_d} |" in text
    assert "selfcond_groups" not in text and "/" not in text  # only this model's settings, no folders
