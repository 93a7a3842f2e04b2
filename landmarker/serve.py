"""The landmark model as an HTTP service: ``landmarker serve`` (FastAPI + uvicorn).

Endpoints:

- ``GET /healthz`` -> ``{"status": "ok", "model": {...}, "max_upload_bytes": N}``.
- ``POST /v1/landmarks`` with a multipart file field ``image`` ->
  ``{"width": W, "height": H, "faces": [{"box": [l, t, r, b], "score": s,
  "landmarks": [[x, y], ...68]}]}``, faces largest first, pixels of the upright
  (EXIF-rotated) image, iBUG 300-W order.

Errors are JSON ``{"detail": ...}``: 400 when the upload is not a decodable image
(the reason from :func:`landmarker.io.decode.read_image`), 413 when the request body is
over the limit, 422 when the ``image`` field is missing, 503 before the model is loaded.

The upload limit is :class:`UploadLimit`, a pure ASGI middleware: a
``Content-Length`` over the limit is refused before any of the body is read, and a
body without one (chunked) is counted as it streams in and refused as soon as the
count passes the limit, so an oversized upload is never held whole.

The model is loaded once per process. Decoding and inference run in Starlette's
threadpool so the event loop keeps serving; inference is serialised by a lock,
since the detectors (dlib's HOG scanner, OpenCV's cascade) are not documented
thread-safe and the network already uses every core for one image.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import sys
import tempfile
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from landmarker.io.decode import ImageDecodeError
from morphkit.errors import InvalidInput

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class FaceOut(BaseModel):
    """One face: box ``[left, top, right, bottom]`` px, detector score (null if none), 68 ``[x, y]`` px."""

    box: list[float]
    score: float | None
    landmarks: list[list[float]]


class LandmarksOut(BaseModel):
    """The decoded image's size in pixels and its faces, largest box first."""

    width: int
    height: int
    faces: list[FaceOut]


class BodyTooLarge(Exception):
    """Raised by :class:`UploadLimit`'s ``receive`` once a request body passes the limit."""


class UploadLimit:
    """Pure ASGI middleware: 413 for HTTP request bodies over ``max_bytes``, never read whole.

    A ``Content-Length`` over the limit is answered before the app runs, so none of the
    body is read. Otherwise (no ``Content-Length``: chunked transfer) the wrapped
    ``receive`` counts body bytes as they arrive and raises :class:`BodyTooLarge` as
    soon as the count passes the limit; whatever the app then does with that error
    (FastAPI turns body-parsing errors into a 400), its reply is dropped and the
    413 is sent instead. The 413 is JSON ``{"detail": ...}`` with ``Connection:
    close``, since the rest of the body is left unread.

    Args:
        app: the ASGI app to wrap.
        max_bytes: largest body accepted, in bytes.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _content_length(self, scope) -> int | None:
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    async def _reply_413(self, scope, receive, send) -> None:
        from starlette.responses import JSONResponse

        limit = f"{self.max_bytes} bytes"
        if self.max_bytes >= 1024 * 1024:
            limit = f"{self.max_bytes / (1024 * 1024):g} MB ({limit})"
        response = JSONResponse(
            {"detail": f"request body over the limit of {limit}"},
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = self._content_length(scope)
        if length is not None and length > self.max_bytes:
            await self._reply_413(scope, receive, send)
            return
        received, exceeded, started = 0, False, False

        async def limited_receive():
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge(f"request body over {self.max_bytes} bytes")
            return message

        async def guarded_send(message):
            nonlocal started
            if exceeded and not started:
                return  # the app's reply to the aborted body; the 413 goes out below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._reply_413(scope, receive, send)


def label_upload(model, file: BinaryIO, filename: str | None, lock: threading.Lock):
    """Label an uploaded file with :func:`landmarker.inference.labelling.label_images`, the path of every command.

    The upload is copied to a temporary file first (deleted before returning), so it
    is decoded exactly as a file on disk (a JPEG over 24 MP reduced in the decoder).

    Args:
        model: the loaded :class:`landmarker.inference.predictor.Landmarker`, used under ``lock``.
        file: the upload, positioned anywhere (it is rewound).
        filename: the client's name for it, used in error messages.

    Returns:
        :class:`landmarker.inference.labelling.ImageResult` (``size``: the image's ``(width, height)``).

    Raises:
        ImageDecodeError: not a decodable image; ``str(err)`` is ``"<filename>: <reason>"``.
    """
    from landmarker.inference.labelling import label_images

    name = filename or "upload"
    file.seek(0)
    fd, tmp = tempfile.mkstemp(prefix="landmarker-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(file, out, 1 << 20)
        with lock:
            result = label_images([(tmp, name)], model=model)[0]
    finally:
        os.unlink(tmp)
    if result.status == "error":
        raise ImageDecodeError(name, result.message)
    return result


def faces_json(faces) -> list[dict]:
    """:class:`landmarker.io.face.Face` list -> JSON-ready dicts (points rounded to 1/1000 px)."""
    out = []
    for f in faces:
        score = float(f.score)
        out.append({
            "box": [round(float(v), 3) for v in f.box],
            "score": score if math.isfinite(score) else None,
            "landmarks": np.round(np.asarray(f.landmarks, np.float64), 3).tolist(),
        })
    return out


def model_info(landmarker, weights: str | os.PathLike | None = None) -> dict:
    """What ``/healthz`` reports about a loaded :class:`landmarker.inference.predictor.Landmarker`."""
    from landmarker.model.backends import engine_name
    from landmarker.model.card import SHIPPED_ONNX, SHIPPED_WEIGHTS

    card = landmarker.card
    kind = getattr(landmarker.backend, "name", type(landmarker.backend).__name__)
    shipped = SHIPPED_ONNX if kind == "onnx" else SHIPPED_WEIGHTS
    return {
        "weights": Path(weights).name if weights else shipped.name,
        "architecture": card.architecture,
        "img_size": landmarker.img_size,
        "backend": kind,
        # what runs the network: the ONNX engine and its version (after any fallback), or PyTorch
        "engine": engine_name(landmarker.backend),
        "device": str(landmarker.device),
        "detector": getattr(landmarker.detector, "name", type(landmarker.detector).__name__),
        # ONNX: int8 kernels or the float path, the drift measured at load, the CPU's int8 features
        "arithmetic": check.as_dict() if (check := getattr(landmarker.backend, "check", None)) else None,
    }


def create_app(
    landmarker=None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    weights: str | os.PathLike | None = None,
    detector: str | None = None,
    backend: str | None = None,
) -> FastAPI:
    """The FastAPI application.

    Args:
        landmarker: a loaded :class:`landmarker.inference.predictor.Landmarker` to serve; None
            loads one with ``weights``, ``detector`` and ``backend`` when the app starts
            (ASGI lifespan; with ``TestClient`` use it as a context manager).
        max_upload_bytes: largest request body accepted (multipart overhead included).
        weights: the weights file (None: the shipped weights); reported by ``/healthz``.
        detector: detector name for a model loaded at startup (None: the Landmarker's default).
        backend: ``"onnx"``, ``"torch"`` or None (from the weights file) for a model loaded at startup.

    Raises:
        ValueError: ``max_upload_bytes`` is not a positive integer.
    """
    if isinstance(max_upload_bytes, bool) or not isinstance(max_upload_bytes, int) or max_upload_bytes <= 0:
        raise InvalidInput(f"max_upload_bytes must be a positive integer, got {max_upload_bytes!r}")
    lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.landmarker is None:
            from landmarker.inference.predictor import Landmarker

            kwargs = {"detector": detector} if detector else {}
            app.state.landmarker = await run_in_threadpool(Landmarker, weights, backend=backend, **kwargs)
            app.state.info = model_info(app.state.landmarker, weights)
        yield

    app = FastAPI(
        title="landmarker",
        summary="68-point face landmarks (iBUG 300-W order) for uploaded images",
        lifespan=lifespan,
    )
    app.add_middleware(UploadLimit, max_bytes=max_upload_bytes)
    app.state.landmarker = landmarker
    app.state.info = model_info(landmarker, weights) if landmarker is not None else None

    def loaded(request: Request):
        model = request.app.state.landmarker
        if model is None:
            raise HTTPException(503, detail="model not loaded yet")
        return model

    @app.get("/healthz")
    async def healthz(request: Request) -> dict:
        """Liveness and the served model: weights, architecture, input size, backend, detector."""
        loaded(request)
        return {"status": "ok", "model": request.app.state.info, "max_upload_bytes": max_upload_bytes}

    @app.post("/v1/landmarks", response_model=LandmarksOut)
    async def landmarks(request: Request, image: UploadFile = File(..., description="an image file")) -> dict:
        """Detect the faces of an uploaded image and predict 68 landmarks each."""
        model = loaded(request)
        try:
            result = await run_in_threadpool(label_upload, model, image.file, image.filename, lock)
        except ImageDecodeError as err:
            raise HTTPException(400, detail=str(err)) from err
        width, height = result.size
        return {"width": int(width), "height": int(height), "faces": faces_json(result.faces)}

    return app


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv4 or IPv6), for uvicorn to listen on.

    Raises:
        ValueError: the address cannot be resolved or bound (e.g. port in use).
    """
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as err:
        raise InvalidInput(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    return sock


def serve_command(args) -> int:
    """``landmarker serve``: bind, load the model once, serve until interrupted; returns 0.

    Raises:
        ValueError: bad ``--max-upload-mb`` or port, address in use, unusable weights or detector.
        FileNotFoundError: missing weights.
    """
    import uvicorn

    if not args.max_upload_mb > 0:
        raise InvalidInput(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    if not 0 <= args.port <= 65535:
        raise InvalidInput(f"--port must be 0..65535, got {args.port}")
    sock = listen_socket(args.host, args.port)
    try:
        from landmarker.inference.labelling import ModelSpec

        model = ModelSpec.from_args(args).load()
        app = create_app(model, int(args.max_upload_mb * 1024 * 1024), weights=args.weights)
        host, port = sock.getsockname()[:2]
        info = app.state.info
        print(
            f"landmarker serve: http://{host if ':' not in host else f'[{host}]'}:{port} "
            f"(weights {info['weights']}, detector {info['detector']}, {info['engine']} on {info['device']}, "
            f"max upload {args.max_upload_mb:g} MB)",
            file=sys.stderr, flush=True,
        )
        server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level))
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
