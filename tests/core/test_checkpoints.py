from __future__ import annotations

import pytest
import torch

from glide_studio.core.model import build_model
from glide_studio.core.runtime.devices import DeviceError, choose_device, compute_dtype
from glide_studio.core.weights.checkpoints import CheckpointError, load_model, save_checkpoint
from tiny_models import TINY_32

TINY = {**TINY_32, "inpaint": True, "noise_schedule": "squaredcos_cap_v2", "use_fp16": False}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, model)
    return model, path


def test_round_trip_is_exact_and_strict(saved):
    model, path = saved
    loaded = load_model(path, TINY, device="cpu")
    assert not loaded.training
    assert loaded.dtype == torch.float32
    original = model.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, original[key]), key
    x = torch.randn(1, 3, 32, 32)
    tokens = torch.full((1, 8), 256)
    mask = torch.zeros(1, 8, dtype=torch.bool)
    with torch.inference_mode():
        assert torch.equal(
            model.eval()(x, torch.tensor([5]), tokens=tokens, mask=mask),
            loaded(x, torch.tensor([5]), tokens=tokens, mask=mask),
        )


def test_checkpoint_with_extra_data_loads(tmp_path):
    model = build_model(TINY)
    path = tmp_path / "with_meta.pt"
    save_checkpoint(path, model, options=dict(TINY), step=12)
    assert isinstance(load_model(path, TINY, device="cpu"), torch.nn.Module)


def test_truncated_file(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 50):
        broken = tmp_path / f"cut{cut}.pt"
        broken.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
            load_model(broken, TINY, device="cpu")
        assert str(broken) in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<!DOCTYPE html><html><body>Not Found</body></html>", "web page"),
        (b"just some text", "not a PyTorch checkpoint"),
        (b"", "empty"),
    ],
)
def test_non_checkpoint_files(tmp_path, content, message):
    path = tmp_path / "base_inpaint.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        load_model(path, TINY, device="cpu")
    assert info.value.path == path


def test_pickle_without_weights(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"epoch": 3}, path)
    with pytest.raises(CheckpointError, match="does not hold model weights"):
        load_model(path, TINY, device="cpu")


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="file not found"):
        load_model(tmp_path / "nope.pt", TINY, device="cpu")


def test_wrong_variant_is_named(saved):
    _, path = saved
    with pytest.raises(CheckpointError) as info:
        load_model(path, {**TINY, "inpaint": False}, device="cpu")
    message = str(info.value)
    assert "wrong shapes" in message and "input_blocks.0.0.weight" in message
    assert "'base-inpaint' checkpoint" in message and "'base' was expected" in message


def test_missing_keys_are_listed(tmp_path):
    model = build_model(TINY)
    state = model.state_dict()
    del state["out.2.bias"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"1 missing keys \(e\.g\. out\.2\.bias\).*1 unexpected keys"):
        load_model(path, TINY, device="cpu")


def test_device_choice():
    assert choose_device("cpu") == torch.device("cpu")
    assert compute_dtype(torch.device("cpu")) == torch.float32
    assert compute_dtype(torch.device("cuda")) == torch.float16
    auto = choose_device(None)
    assert auto.type in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        assert auto.type != "cuda"
        with pytest.raises(DeviceError, match="CUDA"):
            choose_device("cuda")
    with pytest.raises(DeviceError):
        choose_device("tpu")
