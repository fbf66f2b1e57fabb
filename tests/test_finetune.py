"""Fine-tuning: the recipe's parts, the augmentation path, a tiny real run and an exact resume."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from species_data.dataset import Split, scan, split_of
from species_data.images import content_hash
from train import distributed as dist
from train.augment import EvalPhotos, TrainPhotos, sample_seed, train_transform
from train.backbone import spec
from train.config import TrainingConfig, TrainingMode
from train.preprocess import Preprocessing, load_input

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
CLASSES = ("lion", "tiger")
CPU = dist.Context(0, 1, 0, torch.device("cpu"))


def tiny_photo_folder(root: Path, classes=CLASSES, train=8, val=2, test=2) -> Path:
    """<root>/<class>/ symlinks to a few real photos per split (photos never copied)."""
    if not PHOTOS.is_dir():
        pytest.skip(f"real photos not found at {PHOTOS}")
    for label in classes:
        (root / label).mkdir(parents=True, exist_ok=True)
        want = {Split.TRAIN: train, Split.VAL: val, Split.TEST: test}
        for path in sorted((PHOTOS / label).iterdir()):
            split = split_of(content_hash(path.read_bytes()))
            if want[split] > 0:
                want[split] -= 1
                os.symlink(path.resolve(), root / label / path.name)
            if not any(want.values()):
                break
    return root


def tiny_config(tmp: Path, photos: Path, name: str, **overrides) -> TrainingConfig:
    """A few steps on 96 px inputs, one process on CPU, one thread (the test machine is shared)."""
    base = dict(data=[photos], out=tmp / "models" / name, data_dir=tmp / "data", card_dir=None, progress=False,
                workers=0, batch_size=4, input_size=96, max_steps=2, device="cpu", amp="off")
    return TrainingConfig(**{**base, **overrides})


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- recipe parts (no weights) ----
def test_schedule_warms_up_linearly_then_decays_by_cosine():
    from train.recipe import MIN_LR_RATIO, lr_factor

    assert [lr_factor(s, 4, 20) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, 4, 20) == pytest.approx(1.0)
    assert lr_factor(12, 4, 20) == pytest.approx(0.5 * (1 + MIN_LR_RATIO))
    assert lr_factor(20, 4, 20) == pytest.approx(MIN_LR_RATIO)
    assert lr_factor(99, 4, 20) == pytest.approx(MIN_LR_RATIO)
    decay = [lr_factor(s, 4, 20) for s in range(4, 21)]
    assert decay == sorted(decay, reverse=True)


def test_layer_wise_rates_grow_towards_the_head_and_norms_get_no_decay():
    from train.recipe import param_groups
    from train.model import SpeciesClassifier

    model = SpeciesClassifier("tf_efficientnet_lite0", 3)
    cfg = TrainingConfig(data=[], out=Path("x"), lr=1e-3, backbone_lr_scale=0.1, layer_decay=0.5, weight_decay=0.05)
    groups = param_groups(model, cfg)
    in_groups = [p for g in groups for p in g["params"]]
    assert len(in_groups) == len({id(p) for p in in_groups})  # each parameter once
    assert {id(p) for p in in_groups} == {id(p) for n, p in model.named_parameters() if not n.startswith("imagenet")}
    rate = {g["name"]: g["lr"] for g in groups}
    stages = len(model.backbone.blocks)
    assert rate["head"] == pytest.approx(1e-3)
    assert rate[f"backbone.{stages + 1}"] == pytest.approx(1e-4)  # last stage: lr x backbone_lr_scale
    assert rate["backbone.0"] == pytest.approx(1e-4 * 0.5 ** (stages + 1))  # stem: decayed once per stage
    assert [rate[f"backbone.{d}"] for d in range(stages + 2)] == sorted(rate[f"backbone.{d}"] for d in range(stages + 2))
    for g in groups:
        assert g["weight_decay"] == (0.05 if all(p.ndim > 1 for p in g["params"]) else 0.0)


def test_mixed_precision_choice():
    from train.recipe import autocast_dtype

    assert autocast_dtype("auto", torch.device("cpu")) is None
    assert autocast_dtype("off", torch.device("cpu")) is None
    assert autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        autocast_dtype("fp16", torch.device("cpu"))
    with pytest.raises(ValueError, match="auto, off, bf16 or fp16"):
        autocast_dtype("fp8", torch.device("cpu"))


def test_command_line_reaches_the_fine_tuning_settings(tmp_path):
    from train.cli import parse_args

    args = parse_args(["fit", "--mode", "finetune", "--data", str(tmp_path), "--out", "data/models/ft", "--resume",
                       "--no-lp-ft", "--amp", "bf16", "--input-size", "160", "--layer-decay", "0.6",
                       "--augment", "light", "--device", "cpu", "--seed", "7"])
    assert (args.resume, args.lp_ft, args.amp, args.input_size, args.layer_decay, args.augment, args.device,
            args.seed) == (True, False, "bf16", 160, 0.6, "light", "cpu", 7)
    defaults = parse_args(["fit", "--data", str(tmp_path), "--out", "x"])
    cfg = TrainingConfig(data=[tmp_path], out=Path("x"))
    for name in ("backbone_lr_scale", "layer_decay", "weight_decay", "warmup_epochs", "label_smoothing", "patience",
                 "lp_ft", "augment", "amp", "device", "input_size", "seed", "resume"):
        assert getattr(defaults, name) == getattr(cfg, name), name  # the command line and the API agree


# ---- augmentation and the evaluation path ----
@pytest.fixture(scope="module")
def few_photos(tmp_path_factory):
    root = tiny_photo_folder(tmp_path_factory.mktemp("aug") / "photos", train=2, val=1, test=1)
    return scan([root])


def test_training_inputs_are_normalised_squares_drawn_reproducibly(few_photos):
    pre = replace(spec("tf_efficientnet_lite0").preprocessing, input_size=112)
    ds = TrainPhotos(few_photos.photos, few_photos.labels, pre, "strong", seed=3)
    x, y, reason = ds[0]
    assert x.shape == (3, 112, 112) and x.dtype == torch.float32 and reason == ""
    assert y == list(few_photos.labels).index(few_photos.photos[0].label)
    assert -1.0 - 1e-6 <= float(x.min()) and float(x.max()) <= 1.0 + 1e-6  # mean = std = 0.5
    torch.testing.assert_close(ds[0][0], x, rtol=0, atol=0)  # same (seed, epoch, photo): same pixels
    ds.epoch = 1
    assert not torch.equal(ds[0][0], x)  # another epoch: another draw
    again = TrainPhotos(few_photos.photos, few_photos.labels, pre, "strong", seed=3)
    again.epoch = 1
    torch.testing.assert_close(again[0][0], ds[0][0], rtol=0, atol=0)  # a fresh dataset (another process) agrees
    assert sample_seed(0, 0, 1) != sample_seed(0, 1, 0)


def test_training_path_ends_with_the_shared_normalisation():
    import albumentations as A

    from train.augment import augment
    from train.preprocess import normalise

    pre = Preprocessing(input_size=32, mean=(0.2, 0.4, 0.6), std=(0.1, 0.2, 0.3))
    pixels = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(augment(A.Compose([]), pixels, pre, 0), normalise(pixels, pre))
    x = augment(train_transform(pre, "strong"), pixels, pre, 0)
    assert x.shape == (3, 32, 32)
    unnormalised = x * np.array(pre.std)[:, None, None] + np.array(pre.mean)[:, None, None]
    assert unnormalised.min() >= -1e-5 and unnormalised.max() <= 1 + 1e-5  # pixels / 255 with the record's mean/std
    with pytest.raises(ValueError, match="light, strong"):
        train_transform(pre, "medium")


def test_evaluation_inputs_are_exactly_the_serving_preprocessing(few_photos):
    pre = spec("tf_efficientnet_lite0").preprocessing
    ds = EvalPhotos(few_photos.photos, few_photos.labels, pre)
    for i, photo in enumerate(few_photos.photos[:3]):
        x, y, reason = ds[i]
        np.testing.assert_array_equal(x.numpy(), load_input(photo.path, pre)[0])
        assert reason == "" and y == list(few_photos.labels).index(photo.label)


def test_unreadable_photo_is_zero_weight_not_a_crash(tmp_path, few_photos):
    bad = tmp_path / "lion" / "broken.jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    photo = replace(few_photos.photos[0], path=bad)
    pre = replace(spec("tf_efficientnet_lite0").preprocessing, input_size=64)
    for ds in (TrainPhotos([photo], few_photos.labels, pre), EvalPhotos([photo], few_photos.labels, pre)):
        x, _, reason = ds[0]
        assert reason and not x.any()


# ---- real runs ----
@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return tiny_photo_folder(tmp_path_factory.mktemp("ft") / "photos")


@pytest.mark.model
def test_tiny_finetune_writes_a_bundle_whose_probabilities_round_trip(photos, tmp_path):
    from serve.identify.predictor import Predictor
    from train.bundle import Bundle
    from train.finetune import finetune
    from train.head import softmax
    from train.runtime import ModelRunner

    cfg = tiny_config(tmp_path, photos, "ft1", card_dir=tmp_path / "cards")
    bundle = finetune(cfg)
    reloaded = Bundle.load(cfg.out)
    meta = reloaded.meta
    assert meta.labels == list(CLASSES) and meta.preprocessing.input_size == 96
    t = meta.training
    assert t.mode is TrainingMode.FINETUNE and t.details["steps"] == 2 and t.details["linear_probe"]
    assert t.config == cfg  # the run can be repeated from its bundle
    assert t.details["history"][-1]["step"] == 2 and t.details["images_per_s"] > 0
    assert (tmp_path / "cards" / "ft1.md").exists()
    assert (cfg.data_dir / "checkpoints" / "ft1" / "last.pt").exists()

    val = [p for p in scan([photos]).photos if p.split is Split.VAL]
    batch = np.stack([load_input(p.path, meta.preprocessing)[0] for p in val])
    onnx_out = ModelRunner(reloaded, "onnx").run(batch)
    torch_out = ModelRunner(reloaded, "torch").run(batch)
    p_onnx, p_torch = softmax(onnx_out.logits, meta.temperature), softmax(torch_out.logits, meta.temperature)
    np.testing.assert_allclose(p_onnx, p_torch, rtol=1e-4, atol=1e-5)
    # the recorded validation numbers come from the same path serving takes
    y = np.array([meta.labels.index(p.label) for p in val])
    assert meta.metrics.val.top1 == pytest.approx(float(np.mean(p_torch.argmax(1) == y)))
    served = Predictor.load(cfg.out).identify(val[0].path)
    assert dict(served.probabilities)[meta.labels[0]] == pytest.approx(p_onnx[0, 0], abs=1e-5)
    # the weights in the bundle are the fine-tuned ones, not the pretrained backbone
    from train.model import SpeciesClassifier

    pretrained = SpeciesClassifier.from_installed_weights(cfg.arch, 2).state_dict()
    tuned = reloaded.build_model().state_dict()
    assert not torch.equal(pretrained["backbone.conv_head.weight"], tuned["backbone.conv_head.weight"])
    torch.testing.assert_close(pretrained["imagenet_head.weight"], tuned["imagenet_head.weight"])
    assert bundle.path == reloaded.path


@pytest.mark.model
def test_resume_continues_from_the_saved_step_and_matches_an_uninterrupted_run(photos, tmp_path):
    from train.finetune import load_data, train

    # 16 train photos / batch 4 = 4 steps an epoch: stop in epoch 1, resume, cross into epoch 2
    straight = train(tiny_config(tmp_path, photos, "straight", max_steps=5), load_data(
        tiny_config(tmp_path, photos, "straight")), CPU)
    cut = tiny_config(tmp_path, photos, "cut", max_steps=3)
    first = train(cut, load_data(cut), CPU)
    ckpt = torch.load(cut.data_dir / "checkpoints" / "cut" / "last.pt", map_location="cpu", weights_only=False)
    assert ckpt["progress"]["step"] == 3 and ckpt["progress"]["step_in_epoch"] == 3
    assert first.progress.stopped == "step limit 3"
    resumed = train(replace(cut, max_steps=5, resume=True), load_data(cut), CPU)
    assert resumed.progress.step == 5 and resumed.progress.epoch == 1 and resumed.progress.step_in_epoch == 1
    assert [h["step"] for h in resumed.progress.history] == [3, 4, 5]  # history carried over
    assert resumed.probe == {}  # the head came from the checkpoint, not a new probe
    for name, value in straight.last_state.items():
        torch.testing.assert_close(resumed.last_state[name], value, rtol=1e-5, atol=1e-6, msg=name)
    assert straight.progress.history[-1]["val_loss"] == pytest.approx(resumed.progress.history[-1]["val_loss"],
                                                                      abs=1e-4)


@pytest.mark.model
def test_resume_refuses_a_missing_or_mismatched_checkpoint(photos, tmp_path):
    from train.finetune import load_data, train

    cfg = tiny_config(tmp_path, photos, "r", max_steps=1, lp_ft=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*r/last.pt"):
        train(replace(cfg, resume=True), load_data(cfg), CPU)
    train(cfg, load_data(cfg), CPU)
    other = replace(cfg, batch_size=2, resume=True)
    with pytest.raises(ValueError, match="batch_size=4"):
        train(other, load_data(other), CPU)
