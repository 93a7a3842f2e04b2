import numpy as np
import pytest
import torch

from landmarker.model.network import adapt_state_dict, build_model, load_model, save_weights


@pytest.mark.parametrize("size", [64, 128, 224])
def test_model_maps_gray_crops_to_136_outputs(size):
    model = build_model().eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 1, size, size))
    assert out.shape == (2, 136)


def test_three_channel_conv1_is_summed_to_gray():
    from torchvision.models import resnet18

    torch.manual_seed(0)
    rgb = resnet18(weights=None)
    state = adapt_state_dict(rgb.state_dict())
    assert state["conv1.weight"].shape == (64, 1, 7, 7)
    assert "fc.weight" not in state  # 1000-class head dropped
    gray = torch.rand(1, 1, 32, 32)
    expected = torch.nn.functional.conv2d(gray.repeat(1, 3, 1, 1), rgb.conv1.weight, stride=2, padding=3)
    got = torch.nn.functional.conv2d(gray, state["conv1.weight"], stride=2, padding=3)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    model = build_model()
    model.load_state_dict(state, strict=False)


def test_weights_round_trip_through_safetensors(tmp_path):
    model = build_model().eval()
    save_weights(model, tmp_path / "w.safetensors", {"input": {"img_size": 64}}, half=False)
    loaded, card = load_model(tmp_path / "w.safetensors")
    assert card["input"]["img_size"] == 64
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_missing_card_is_a_clear_error(tmp_path):
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(1)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(FileNotFoundError, match="model card"):
        load_model(tmp_path / "x.safetensors")


def test_shipped_weights_load_with_card():
    model, card = load_model()
    assert card["input"]["img_size"] in (96, 128, 160, 224)
    rows = {r["name"]: r for r in card["validation"]["rows"]}  # landmarker evaluate --update-card
    # held out of training, labelled by others: ytf68 validation and dlib's 300-W-convention faces
    assert rows["ytf68:ytf68"]["split"] == "val" and rows["ytf68:ytf68"]["nme_mean"] < 0.05
    testing = rows["dlib-xml:testing_with_face_landmarks.xml"]
    assert testing["nme_mean"] < 0.05 and testing["faces"] == 25
    # and the adult photos users hold: frl-canada's studio portraits, 300-W's photo-held-out split
    assert rows["tem:frl-canada"]["faces"] == 40 and rows["tem:frl-canada"]["nme_mean"] < 0.035
    assert rows["pts:w300-afw-helen"]["split"] == "val" and rows["pts:w300-afw-helen"]["nme_mean"] < 0.05
    for r in rows.values():  # the 300-W convention: ytf68's stored labels were 2.8% (x) and 1.6% (y) off
        assert abs(r["offset_x_iod"]) < 0.01 and abs(r["offset_y_iod"]) < 0.01
    assert not model.training
    assert all(np.isfinite(p.detach().numpy()).all() for p in model.parameters())


def test_pca_head_outputs_mean_plus_scaled_eigenvectors(tmp_path):
    torch.manual_seed(0)
    model = build_model("pca", 3).eval()
    mean, basis = torch.rand(136), torch.rand(3, 136)
    model.fc.set_shape_model(mean, basis)
    with torch.no_grad():
        torch.testing.assert_close(model(torch.zeros(2, 1, 64, 64)), mean.expand(2, 136))  # scores start at 0
        model.fc.scores.bias.copy_(torch.tensor([1.0, 0.0, -2.0]))
        torch.testing.assert_close(model(torch.zeros(1, 1, 64, 64))[0], mean + basis[0] - 2 * basis[2])
    save_weights(model, tmp_path / "p.safetensors",
                 {"input": {"img_size": 64}, "head": {"type": "pca", "components": 3}})
    loaded, _ = load_model(tmp_path / "p.safetensors")
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_unknown_head_is_refused():
    with pytest.raises(ValueError, match="head"):
        build_model("mlp")
