"""The HTTP service (landmarker.serve): endpoints, upload limit, errors, CLI."""

import asyncio
import io
import json
import os
import socket
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from landmarker.cli import main as landmarker_main
from landmarker.inference import predictor
from landmarker.io.decode import read_image
from landmarker.serve import create_app

with warnings.catch_warnings():  # starlette's TestClient warns that it runs on httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

LIMIT = 100_000  # bytes; the test portrait (65 kB) fits, BIG does not
BIG = os.urandom(3 * LIMIT)


@pytest.fixture(scope="module")
def model():
    return predictor.Landmarker()


@pytest.fixture(scope="module")
def client(model):
    return TestClient(create_app(model, max_upload_bytes=LIMIT))


@pytest.fixture
def portrait(data_dir):
    return data_dir / "portraits" / "A000360.jpg"


def _post(client, name, content, mime="image/jpeg"):
    return client.post("/v1/landmarks", files={"image": (name, content, mime)})


def _png(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_healthz_reports_the_model(client, model):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["model"]["img_size"] == model.img_size
    assert body["model"]["weights"].endswith(".onnx")  # the default: the shipped int8 ONNX model
    arithmetic = body["model"]["arithmetic"]  # which kernels run, checked on this CPU at load
    assert arithmetic["path"] == model.backend.check.path and arithmetic["bound"] == 0.02
    assert arithmetic["cpu"]["cpu"] and "flags" in arithmetic["cpu"]
    assert body["max_upload_bytes"] == LIMIT


def test_portrait_gives_one_face_as_predict_does(client, model, portrait):
    r = _post(client, "a.jpg", portrait.read_bytes())
    assert r.status_code == 200, r.text
    body = r.json()
    image = read_image(portrait)
    assert (body["width"], body["height"]) == (image.shape[1], image.shape[0])
    assert len(body["faces"]) == 1
    face = body["faces"][0]
    l, t, r_, b = face["box"]
    assert l < r_ and t < b and isinstance(face["score"], float)
    pts = np.array(face["landmarks"])
    assert pts.shape == (68, 2)
    assert (pts >= 0).all() and (pts[:, 0] < body["width"]).all() and (pts[:, 1] < body["height"]).all()
    expected = model.predict(image)[0]
    np.testing.assert_allclose(pts, expected.landmarks, atol=1e-2)
    np.testing.assert_allclose(face["box"], expected.box, atol=1e-2)


def test_blank_image_has_no_faces(client):
    r = _post(client, "blank.png", _png(np.full((240, 320, 3), 128, np.uint8)), "image/png")
    assert r.status_code == 200
    assert r.json() == {"width": 320, "height": 240, "faces": []}


@pytest.mark.parametrize("name, content, reason", [
    ("notes.txt", b"just some text\n", "not an image"),
    ("empty.jpg", b"", "empty"),
])
def test_undecodable_upload_is_400_with_reason(client, name, content, reason):
    r = _post(client, name, content)
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail.startswith(name) and reason in detail


def test_missing_field_is_422_with_reason(client, portrait):
    r = client.post("/v1/landmarks", files={"picture": ("a.jpg", portrait.read_bytes(), "image/jpeg")})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "image"]


def test_over_limit_with_content_length_is_413(client):
    r = _post(client, "big.jpg", BIG)
    assert int(r.request.headers["content-length"]) > LIMIT
    assert r.status_code == 413
    assert str(LIMIT) in r.json()["detail"]
    assert r.headers["connection"] == "close"


HEAD = b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n\r\n'
MULTIPART = {"content-type": "multipart/form-data; boundary=xyz"}


def _chunked_upload():
    """A multipart body of BIG as a generator: httpx sends it chunked, without Content-Length."""
    yield HEAD
    for i in range(0, len(BIG), 8192):
        yield BIG[i : i + 8192]
    yield b"\r\n--xyz--\r\n"


def test_over_limit_chunked_is_413(client):
    r = client.post("/v1/landmarks", content=_chunked_upload(), headers=MULTIPART)
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 413
    assert str(LIMIT) in r.json()["detail"]


def _asgi_post(app, chunks, headers):
    """POST /v1/landmarks straight into the ASGI app; returns (status, body, chunks pulled)."""
    pulled, sent = [0], []

    async def receive():
        if pulled[0] < len(chunks):
            pulled[0] += 1
            return {"type": "http.request", "body": chunks[pulled[0] - 1], "more_body": pulled[0] < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/landmarks", "raw_path": b"/v1/landmarks", "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
        "headers": [(b"content-type", b"multipart/form-data; boundary=xyz")] + headers,
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled[0]


def test_over_limit_body_is_never_read_whole(model):
    app = create_app(model, max_upload_bytes=10_000)
    chunks = [HEAD] + [b"\xff" * 1000] * 100  # 100 kB in 1 kB chunks
    # streamed (no Content-Length): stops right after the chunk that passes 10 kB
    status, body, pulled = _asgi_post(app, chunks, [])
    assert status == 413 and "10000 bytes" in body["detail"]
    assert pulled <= 11
    # Content-Length over the limit: refused before the first chunk is read
    total = str(sum(map(len, chunks))).encode()
    status, body, pulled = _asgi_post(app, chunks, [(b"content-length", total)])
    assert status == 413 and pulled == 0


def test_keeps_serving_after_400_and_413(client, portrait):
    assert _post(client, "bad.jpg", b"\xff\xd8\xff\xe0 truncated").status_code == 400
    assert _post(client, "big.jpg", BIG).status_code == 413
    r = _post(client, "a.jpg", portrait.read_bytes())
    assert r.status_code == 200 and len(r.json()["faces"]) == 1


def test_model_loads_once_at_startup(model, monkeypatch, portrait):
    calls = []

    def fake_landmarker(*args, **kwargs):
        calls.append((args, kwargs))
        return model

    monkeypatch.setattr(predictor, "Landmarker", fake_landmarker)
    app = create_app(detector="haar")
    assert TestClient(app).get("/healthz").status_code == 503  # no lifespan: not loaded
    with TestClient(app) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        for _ in range(2):
            assert _post(c, "a.jpg", portrait.read_bytes()).status_code == 200
    assert len(calls) == 1 and calls[0][1]["detector"] == "haar"


def test_create_app_refuses_bad_limit(model):
    with pytest.raises(ValueError, match="max_upload_bytes"):
        create_app(model, max_upload_bytes=0)


def test_cli_unusable_options_exit_2(capsys):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        port = busy.getsockname()[1]
        for argv, reason in [
            (["--port", str(port)], "cannot listen"),
            (["--port", "70000"], "--port"),
            (["--max-upload-mb", "0"], "--max-upload-mb"),
        ]:
            assert landmarker_main(["serve", *argv]) == 2
            err = capsys.readouterr().err.strip()
            assert err.startswith("landmarker serve: error:") and reason in err and "\n" not in err
    finally:
        busy.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serves_over_http(model, portrait, monkeypatch):
    """`landmarker serve` for real (uvicorn on loopback), in a thread, with the module's model."""
    import threading

    import httpx
    import uvicorn

    servers, loads = [], []

    class Recorded(uvicorn.Server):
        def __init__(self, config):
            super().__init__(config)
            servers.append(self)

    monkeypatch.setattr(uvicorn, "Server", Recorded)
    monkeypatch.setattr(predictor, "Landmarker", lambda *a, **k: loads.append(k) or model)
    port = _free_port()
    argv = ["serve", "--port", str(port), "--detector", "hog", "--max-upload-mb", str(LIMIT / 2**20),
            "--log-level", "warning"]
    exit_code = []
    thread = threading.Thread(target=lambda: exit_code.append(landmarker_main(argv)), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not (servers and servers[0].started):
            assert thread.is_alive() and time.monotonic() < deadline, "server did not come up"
            time.sleep(0.05)
        with httpx.Client(base_url=url) as http:
            assert http.get("/healthz").json()["max_upload_bytes"] == LIMIT
            big = http.post("/v1/landmarks", files={"image": ("big.jpg", BIG, "image/jpeg")})
            assert big.status_code == 413 and big.headers["connection"] == "close"
            chunked = http.post("/v1/landmarks", content=_chunked_upload(), headers=MULTIPART)
            assert "content-length" not in chunked.request.headers
            assert chunked.status_code == 413
            assert http.post("/v1/landmarks", files={"image": ("t.txt", b"text")}).status_code == 400
            r = http.post("/v1/landmarks", files={"image": ("a.jpg", portrait.read_bytes(), "image/jpeg")})
            assert r.status_code == 200 and len(r.json()["faces"]) == 1
    finally:
        if servers:
            servers[0].should_exit = True
        thread.join(timeout=30)
    assert exit_code == [0] and len(loads) == 1 and loads[0]["detector"] == "hog"
