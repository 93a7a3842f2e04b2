"""``morphkit review RUN_DIR``: correct a bulk-label run's landmarks in the browser (FastAPI + uvicorn).

The page (``static/``: plain HTML, JS and CSS, no build step) lists the run's faces worst fit
first and edits one face's 68 points on its photo. It uses the same HTTP API as scripts:

- ``GET /api/faces`` -> JSON list, worst fit first: ``{"id", "image", "face", "fit" (or null),
  "reviewed", "rejected", "score" (the detector's, or null for a box a person drew), "box": [l, t, r, b],
  "landmarks": 68 x [x, y], "size": [w, h] (or null), "crop": [l, t, r, b] (what the thumbnail
  shows)}``; rejected faces only with ``?rejected=1`` (then every face, each marked).
- ``GET /api/faces/{id}`` -> one face, as listed (rejected ones too); 404 for an unknown id.
- ``DELETE /api/faces/{id}`` -> 200 and the face, now ``"rejected": true``: "not a face", left out
  of ``landmarks.csv``, ``landmarks.xml``, the overlay and so of every job and training;
  ``POST /api/faces/{id}/restore`` -> 200, undone. 404 for an unknown id. Both kept in the journal.
- ``POST /api/faces`` with ``{"image": NAME, "box": [l, t, r, b]}`` -> 201 and a new face the detector
  missed, with the run's model's 68 points in that box (not reviewed until saved); 404 for an image
  not in the run; 422 for a bad box (:func:`jobs.review.store.check_box`) or body; 409 when the photo
  cannot be read or changed since it was labelled; 503 when the run's model cannot be loaded.
- ``GET /api/images`` -> every image of the run: ``{"id", "image", "status", "faces"}`` (``faces``:
  those in ``landmarks.csv``), so a photo without a face can be opened to add one;
  ``GET /api/images/{id}`` -> that photo, upright, as JPEG.
- ``PUT /api/faces/{id}`` with ``{"landmarks": 68 x [x, y]}`` -> 200 and the face as stored,
  exactly the points sent (now reviewed); 404 for an unknown id; 422 for a body that is not 68
  finite points, or points far outside the image (points of a face cut off by the frame lie
  outside it and are valid: :func:`jobs.review.store.check_landmarks`); 409 when the image cannot
  be read (to check the points against its size) or changed since it was labelled (its ``sha1``);
  500 when the journal or a file of the run cannot be written (so for DELETE, restore and POST).
  Written through to the journal,
  ``landmarks.csv``, ``landmarks.xml`` and the face's overlay (where the run has them) before the
  answer (:class:`jobs.review.store.ReviewStore`).
- ``GET /api/faces/{id}/image`` -> the photo, upright (EXIF applied, the frame of the
  landmarks), as JPEG; ``GET /api/faces/{id}/thumb`` -> the thumbnail (``crop`` of it).
- ``GET /api/scheme`` -> the 68-point scheme of :mod:`morphkit.ibug68`: point names,
  contours, groups, the mirror permutation.

Safe by default: the command binds 127.0.0.1; on a loopback address only requests whose
``Host`` names a loopback address are answered (a web page cannot reach the server through
DNS rebinding); binding any other address needs a token (``--token``, or a random one
printed with the URL), which every request for data must carry (header ``X-Review-Token`` or
query ``token=``; the page and its script are the package's and need none). Request bodies
over :data:`MAX_BODY` bytes get 413 before they are read (:class:`landmarker.serve.UploadLimit`).
Only the routes above exist: no directory listing, no file named by a request (images are
found by the journal's names).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import sys
import threading
from collections import OrderedDict
from pathlib import Path

from morphkit.errors import InvalidInput, MissingDependency, extra_hint

from ..bulk_output import OutputError
from .store import OUTSIDE, ModelUnavailable, PhotoChanged, ReviewStore, thumb_crop

MAX_BODY = 64 * 1024  # a PUT of 68 points is about 2 KB
THUMB_SIDE = 160
STATIC = Path(__file__).with_name("static")
PAGES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765
#: The page of the default server: reports link each face from a bulk-label run to ``REVIEW_URL#face=ID``.
REVIEW_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/"


def _require_server() -> None:
    """Raises MissingDependency naming the ``serve`` extra when FastAPI or uvicorn is missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise MissingDependency(f"morphkit review needs FastAPI and uvicorn ({err.name} is missing): "
                                f"{extra_hint('serve')}") from err


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 in brackets or not) is this machine's loopback."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(header: str) -> str:
    """The host of a ``Host`` header without its port (``[::1]:8765`` -> ``::1``)."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """Pure ASGI middleware: the token and the loopback ``Host`` rule of the module docstring.

    Args:
        app: the ASGI app to wrap.
        token: the token every request must carry (None: none needed).
        loopback_only: answer only requests whose ``Host`` is a loopback name or address.
    """

    def __init__(self, app, token: str | None, loopback_only: bool):
        self.app, self.token, self.loopback_only = app, token, loopback_only

    def _allowed(self, scope) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        if self.loopback_only and not is_loopback(_host_of(headers.get("host", ""))):
            return "this server answers requests to a loopback address only (Host header)"
        if self.token is None or (scope.get("method") == "GET" and (scope["path"] == "/"
                                                                     or scope["path"].startswith("/static/"))):
            return None  # the page and its code are the package's, the same for everyone: the data needs the token
        from urllib.parse import parse_qs

        given = headers.get("x-review-token") or next(
            iter(parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])), "")
        return None if hmac.compare_digest(given.encode(), self.token.encode()) else "missing or wrong token"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            why = self._allowed(scope)
            if why:
                from starlette.responses import JSONResponse

                await JSONResponse({"detail": why}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _Images:
    """The JPEG bytes served: photos (a few kept) and thumbnails (a few hundred kept), each made once."""

    def __init__(self, photos: int = 8, thumbs: int = 512):
        self._lock = threading.Lock()
        self._caches = {"photo": (OrderedDict(), photos), "thumb": (OrderedDict(), thumbs)}

    def _cached(self, kind: str, key, make) -> bytes:
        cache, limit = self._caches[kind]
        with self._lock:
            data = cache.get(key)
            if data is not None:
                cache.move_to_end(key)
                return data
        data = make()  # outside the lock: two requests for one image may both make it, the same bytes
        with self._lock:
            cache[key] = data
            while len(cache) > limit:
                cache.popitem(last=False)
        return data

    @staticmethod
    def _jpeg(image, quality: int) -> bytes:
        import cv2

        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise InvalidInput("JPEG encoding failed")
        return data.tobytes()

    def photo(self, path: Path) -> bytes:
        """The photo at ``path``, upright, as JPEG (quality 92).

        Raises:
            ImageDecodeError: the file cannot be decoded (:func:`landmarker.io.decode.read_image`).
        """
        from landmarker.io.decode import read_image

        return self._cached("photo", path, lambda: self._jpeg(read_image(path), 92))

    def thumb(self, path: Path, crop: tuple[int, int, int, int], size: tuple[int, int] | None) -> bytes:
        """The part ``crop`` (``(left, top, right, bottom)`` pixels of the upright photo of ``size``
        ``(width, height)``) of the photo at ``path``, its longer side shrunk to :data:`THUMB_SIDE`, as
        JPEG. A large JPEG of known size is decoded reduced, no coarser than the thumbnail needs
        (:func:`landmarker.io.decode.read_image_reduced`); with ``size`` None, in full.

        Raises:
            ImageDecodeError: the file cannot be decoded.
        """
        return self._cached("thumb", (path, crop), lambda: self._jpeg(self._crop(path, crop, size), 85))

    @staticmethod
    def _crop(path: Path, crop: tuple[int, int, int, int], size: tuple[int, int] | None):
        import cv2

        from landmarker.io.decode import read_image, read_image_reduced

        l, t, r, b = crop
        if size is None:
            image, scale = read_image(path), 1
        else:  # the photo's long side that keeps the crop THUMB_SIDE px or more
            need = -(-max(size) * THUMB_SIDE // max(r - l, b - t, 1))
            image, scale, _ = read_image_reduced(path, draft_pixels=0, min_side=max(1, need))
        part = image[t // scale : -(-b // scale), l // scale : -(-r // scale)]
        k = THUMB_SIDE / max(part.shape[:2])
        if k < 1:
            part = cv2.resize(part, (max(1, round(part.shape[1] * k)), max(1, round(part.shape[0] * k))),
                              interpolation=cv2.INTER_AREA)
        return part


def create_app(store: ReviewStore, token: str | None = None, loopback_only: bool = True):
    """The review app over ``store`` (the routes of the module docstring).

    Args:
        store: the run's :class:`jobs.review.store.ReviewStore` (the caller closes it).
        token: the token every request must carry (None: none).
        loopback_only: answer only requests addressed to a loopback ``Host`` (for a server bound
            to a loopback address).

    Raises:
        MissingDependency: FastAPI is not installed (the ``serve`` extra).
    """
    _require_server()
    from fastapi import Body, FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    from landmarker.io.decode import ImageDecodeError
    from landmarker.serve import UploadLimit
    from morphkit import ibug68

    pages = {name: (STATIC / name).read_bytes() for name in PAGES}
    index = (STATIC / "index.html").read_bytes()
    images = _Images()
    scheme = {
        "names": list(ibug68.POINT_NAMES),
        "contours": [{"name": n, "points": list(range(ibug68.N_POINTS)[s]), "closed": c}
                     for n, s, c in ibug68.CONTOURS],
        "groups": {n: list(range(ibug68.N_POINTS)[s]) for n, s in ibug68.GROUPS.items()},
        "mirror": ibug68.MIRROR.tolist(),
        "outside": OUTSIDE,  # points may lie this share of the photo's larger side outside it (jobs.review.store)
    }
    app = FastAPI(title="morphkit review", summary="correct a bulk-label run's landmarks", docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.add_middleware(UploadLimit, max_bytes=MAX_BODY)
    app.add_middleware(Guard, token=token, loopback_only=loopback_only)
    nocache = {"Cache-Control": "no-store"}

    def found(face_id: str):
        face = store.get(face_id)
        if face is None:
            raise HTTPException(404, detail=f"no face {face_id!r} in this run")
        return face

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(index, headers=nocache)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in pages:  # a fixed set of files read at start: no request reaches the file system
            raise HTTPException(404, detail="not found")
        return Response(pages[name], media_type=PAGES[name], headers=nocache)

    @app.get("/api/scheme")
    def get_scheme() -> dict:
        return scheme

    @app.get("/api/run")
    def get_run() -> dict:
        return {"run": store.run_dir.name, "archive": store.archive.name}

    @app.get("/api/faces")
    def list_faces(rejected: int = 0) -> JSONResponse:
        return JSONResponse([f.as_json() for f in store.faces(rejected=bool(rejected))], headers=nocache)

    @app.get("/api/faces/{face_id}")
    def get_face(face_id: str) -> JSONResponse:
        return JSONResponse(found(face_id).as_json(), headers=nocache)

    def written(change, face_id: str) -> JSONResponse:
        found(face_id)
        try:
            face = change(face_id)
        except OutputError as err:  # the disk, not the request
            raise HTTPException(500, detail=str(err)) from err
        return JSONResponse(face.as_json())

    @app.delete("/api/faces/{face_id}")
    def reject_face(face_id: str) -> JSONResponse:
        return written(store.reject, face_id)

    @app.post("/api/faces/{face_id}/restore")
    def restore_face(face_id: str) -> JSONResponse:
        return written(store.restore, face_id)

    @app.post("/api/faces", status_code=201)
    def add_face(body: dict = Body(...)) -> JSONResponse:
        if set(body) != {"image", "box"} or not isinstance(body["image"], str):
            raise HTTPException(422, detail='the body must be {"image": NAME, "box": [left, top, right, bottom]}')
        try:
            face = store.add(body["image"], body["box"])
        except ModelUnavailable as err:
            raise HTTPException(503, detail=str(err)) from err
        except KeyError as err:
            raise HTTPException(404, detail=f"no image {body['image']!r} in this run") from err
        except PhotoChanged as err:
            raise HTTPException(409, detail=str(err)) from err
        except (ImageDecodeError, OSError) as err:
            raise HTTPException(409, detail=f"the image cannot be read: {err}") from err
        except OutputError as err:
            raise HTTPException(500, detail=str(err)) from err
        except InvalidInput as err:
            raise HTTPException(422, detail=str(err)) from err
        return JSONResponse(face.as_json(), status_code=201)

    @app.get("/api/images")
    def list_images() -> JSONResponse:
        return JSONResponse(store.images(), headers=nocache)

    @app.get("/api/images/{image_id}")
    def get_photo(image_id: str) -> Response:
        name = store.image_named(image_id)
        if name is None:
            raise HTTPException(404, detail=f"no image {image_id!r} in this run")
        try:
            data = images.photo(store.photo_path(name))
        except (InvalidInput, OSError) as err:  # ImageDecodeError included
            raise HTTPException(404, detail=f"the image cannot be read: {err}") from err
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    # the routes below are plain functions: FastAPI runs them in its thread pool (file I/O, decoding)
    @app.put("/api/faces/{face_id}")
    def put_face(face_id: str, body: dict = Body(...)) -> JSONResponse:
        found(face_id)
        if set(body) != {"landmarks"}:
            raise HTTPException(422, detail='the body must be {"landmarks": 68 x [x, y]}')
        try:
            face = store.save(face_id, body["landmarks"])
        except (ImageDecodeError, OSError) as err:
            raise HTTPException(409, detail=f"the image cannot be read: {err}") from err
        except PhotoChanged as err:
            raise HTTPException(409, detail=str(err)) from err
        except OutputError as err:  # the disk, not the request
            raise HTTPException(500, detail=str(err)) from err
        except InvalidInput as err:
            raise HTTPException(422, detail=str(err)) from err
        return JSONResponse(face.as_json())

    @app.get("/api/faces/{face_id}/image")
    def get_image(face_id: str) -> Response:
        face = found(face_id)
        try:
            data = images.photo(store.image_path(face))
        except (InvalidInput, OSError) as err:  # ImageDecodeError included
            raise HTTPException(404, detail=f"the image cannot be read: {err}") from err
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/faces/{face_id}/thumb")
    def get_thumb(face_id: str) -> Response:
        face = found(face_id)
        try:
            data = images.thumb(store.image_path(face), thumb_crop(face), face.size)
        except (InvalidInput, OSError) as err:  # ImageDecodeError included
            raise HTTPException(404, detail=f"the image cannot be read: {err}") from err
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    return app


def review_command(run_dir: str | os.PathLike, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                   token: str | None = None, archive: str | os.PathLike | None = None,
                   log_level: str = "warning") -> int:
    """``morphkit review``: open the run, bind, print the URL, serve until Ctrl-C; returns 0.

    The defaults here are those of ``morphkit review`` (its options read them from this signature).

    Args:
        run_dir: a bulk-label ``--out`` folder.
        host, port: where to listen (port 0: a free one; the URL printed says which).
        token: the token every data request must carry; None: none on a loopback address,
            a random one (printed) on any other.
        archive: the archive the run labelled, when it moved (default: the one the run records).
        log_level: uvicorn's log level.

    Raises:
        MissingDependency: FastAPI or uvicorn missing (the ``serve`` extra).
        OutputError: ``run_dir`` is not a bulk-label run, or a bulk-label run is writing there.
        InvalidInput: a bad port, or the address cannot be bound.
    """
    _require_server()
    import uvicorn

    from landmarker.serve import listen_socket

    if not 0 <= port <= 65535:
        raise InvalidInput(f"--port must be 0..65535, got {port}")
    loopback = is_loopback(host)
    if not loopback and not token:
        token = secrets.token_urlsafe(18)
    with ReviewStore(run_dir, archive) as store:
        faces = store.faces()
        sock = listen_socket(host, port)
        try:
            sock.listen(128)  # connections wait for the server from now on: the URL printed works at once
            bound, port = sock.getsockname()[:2]
            shown = host if host not in ("0.0.0.0", "::") else bound
            url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/" + (f"?token={token}" if token else "")
            done = sum(f.reviewed for f in faces)
            print(f"morphkit review: {url}  ({len(faces)} faces of {store.run_dir}, {done} reviewed; Ctrl-C to stop)",
                  flush=True)
            if not loopback:
                print(f"morphkit review: listening on {host}, not only this machine: every request needs the "
                      f"token {token}", file=sys.stderr, flush=True)
            app = create_app(store, token=token, loopback_only=loopback)
            server = uvicorn.Server(uvicorn.Config(app, log_level=log_level))
            try:
                server.run(sockets=[sock])
            except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl-C, then raises it again
                pass
            reviewed = sum(f.reviewed for f in store.faces())
            print(f"morphkit review: stopped; {reviewed} reviewed faces, every save in "
                  f"{store.run_dir / 'landmarks.csv'}", file=sys.stderr, flush=True)
        finally:
            sock.close()
    return 0
