"""``cardrec-edge serve``: identify cards over HTTP, keep a collection, and a small web page to drive both.

The server listens on 127.0.0.1 by default, reachable from this machine only. To use it from a phone or
another computer, start it with ``--host 0.0.0.0`` and preferably a token (``CARDREC_EDGE_TOKEN`` or
``--token-file``): every endpoint except ``GET /health`` and the page itself then needs
``Authorization: Bearer SECRET`` (GET views also take ``?token=SECRET``, for links and headless browsers; the
access log shows it as ``token=REDACTED``). Browsers allow the live camera only on https or localhost.
Foreign ``Host`` names and cross-origin writes are refused (``guard.py``); recognition runs on a bounded
worker pool (``workers.py``) that answers 503 when full.

Endpoints: ``GET /`` (page; its script and style sheet under ``GET /static/``), ``GET /health``,
``POST /identify`` (multipart field ``image``, or a raw image body), ``GET /scans/{scan_id}`` (a recent result as
HTML), ``GET /cards/{card_id}``, ``GET|POST /collection``, ``DELETE /collection/{row_id}``, ``GET /collection.csv``.
Expected errors answer 4xx JSON ``{"error": ...}``.
"""
from __future__ import annotations

import base64
import io
import json
import logging
import re
import secrets
import sys
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

try:
    from fastapi import APIRouter, Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException
    from starlette.formparsers import MultiPartException, MultiPartParser
    from starlette.requests import ClientDisconnect
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError("the server needs the 'serve' extra: pip install 'cardrec-edge[serve]'") from e

from .. import defaults
from ..collection import Collection
from .guard import LOOPBACK, WILDCARD, GuardMiddleware, HostPolicy
from .page import STATIC_TYPES, index_html, scan_html, static_file
from .upload import DECLARED_OK, UploadError, check_image, decode_rgb, to_data_url
from .workers import Busy, WorkerPool, default_workers

log = logging.getLogger("cardrec_edge.server")

JSON_LIMIT = 64 * 1024  # request bodies of the JSON endpoints
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the uploaded file
DRAIN_CAP = 64 * 2**20  # read (and drop) up to this much of a refused body so the client sees the answer
KEEP_SCANS = 50
TOKEN_IN_QUERY = re.compile(r"(?<=[?&])token=[^&\s]*")


def _np_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


class JSON(JSONResponse):
    """JSONResponse that also writes numpy scalars and arrays."""

    def render(self, content) -> bytes:
        return json.dumps(content, default=_np_default, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


def _error(status: int, message: str, headers: dict | None = None) -> JSON:
    return JSON({"error": message}, status_code=status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 beyond ``limit`` bytes (by Content-Length first, then while reading).

    A refused body is read on and dropped (up to ``DRAIN_CAP``) so that the client, still sending, gets the
    413 instead of a reset connection; a client that waits for ``100 Continue`` is answered at once.
    """
    declared = request.headers.get("content-length")
    too_big = False
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            raise HTTPException(400, f"bad Content-Length {declared!r}") from None
        if too_big and (int(declared) > DRAIN_CAP or request.headers.get("expect", "").lower() == "100-continue"):
            raise HTTPException(413, f"request body larger than {limit:,} bytes")
    body, total = bytearray(), 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            too_big = too_big or total > limit
            if too_big and total > DRAIN_CAP:
                break
            if not too_big:
                body += chunk
    except ClientDisconnect:
        raise HTTPException(400, "client disconnected during the upload") from None
    if too_big:
        raise HTTPException(413, f"request body larger than {limit:,} bytes")
    return bytes(body)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def read_image_upload(request: Request, max_bytes: int) -> tuple[bytes, str]:
    """(image bytes, declared content type) from a multipart ``image`` field or a raw image body."""
    body = await read_body(request, max_bytes + MULTIPART_SLACK)
    if not body:
        raise HTTPException(400, "empty request: send an image in the multipart field 'image'")
    ctype = request.headers.get("content-type", "")
    base = ctype.split(";")[0].strip().lower()
    if base == "multipart/form-data":
        parser = MultiPartParser(request.headers, _once(body), max_files=1, max_fields=16, max_part_size=JSON_LIMIT)
        try:
            form = await parser.parse()
        except MultiPartException as e:
            raise HTTPException(400, f"malformed multipart body: {e.message}") from None
        try:
            image = form.get("image")
            if not isinstance(image, UploadFile):
                raise HTTPException(400, "no file in the multipart field 'image'")
            data, declared = await image.read(), image.content_type or ""
        finally:
            await form.close()
    elif base in DECLARED_OK - {""}:
        data, declared = body, base
    else:
        raise HTTPException(415, f"content type {base or 'none'!r}: send multipart/form-data with a file field "
                                 f"'image' (JPEG, PNG, WebP or BMP)")
    if len(data) > max_bytes:
        raise HTTPException(413, f"image larger than {max_bytes:,} bytes")
    return data, declared


class ScanStore:
    """The last ``size`` identify results (with crops and a small copy of the frame), for the result page."""

    def __init__(self, size: int = KEEP_SCANS):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def put(self, scan_id: str, scan: dict) -> None:
        with self._lock:
            self._items[scan_id] = scan
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, scan_id: str) -> dict | None:
        with self._lock:
            return self._items.get(scan_id)


def backend_name(recognizer) -> str:
    return "hailo" if type(recognizer.embedder).__name__ == "HailoEmbedder" else "onnx"


class RedactToken(logging.Filter):
    """Writes ``token=REDACTED`` for a ``?token=`` query value in access-log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(TOKEN_IN_QUERY.sub("token=REDACTED", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def create_app(recognizer, collection: Collection, token: str | None = None,
               max_upload_bytes: int = int(defaults.MAX_UPLOAD_MB * 2**20),
               max_pixels: int = defaults.MAX_PIXELS, host: str = defaults.HOST, allow_hosts: Iterable[str] = (),
               workers: int | None = None, queue: int | None = None) -> FastAPI:
    """The HTTP app around a ``Recognizer`` and a ``Collection``; ``token`` turns on bearer authentication.

    ``host`` (the bound address) and ``allow_hosts`` decide which ``Host`` names are answered; ``workers``
    (default: one per core) recognise in parallel, ``queue`` (default: ``defaults.QUEUE_PER_WORKER`` per
    worker) more requests wait, and beyond that /identify answers 503.
    """
    workers = workers or default_workers()
    pool = WorkerPool(workers, defaults.QUEUE_PER_WORKER * workers if queue is None else queue)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        pool.shutdown()

    app = FastAPI(title="cardrec-edge", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(GuardMiddleware, policy=HostPolicy(host, allow_hosts))
    cards_by_id = {c["id"]: c for c in recognizer.cards}
    scans = ScanStore()
    expected = token.encode() if token else None

    def authorize(request: Request) -> None:
        if expected is None:
            return
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not given and request.method in ("GET", "HEAD"):
            given = request.query_params.get("token", "")
        if not secrets.compare_digest(given.encode(), expected):
            raise HTTPException(401, "missing or wrong access token (send 'Authorization: Bearer <token>')",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSON:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSON:
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors())
        return _error(400, f"invalid request: {where}")

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSON:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}")

    def html(body: str, scripts: bool = False) -> HTMLResponse:
        script_src = "'self'" if scripts else "'none'"
        csp = (f"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
               f"script-src {script_src}; connect-src 'self'; "
               "media-src 'self' blob: mediastream:; frame-ancestors 'none'; base-uri 'none'")
        return HTMLResponse(body, headers={"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
                                           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return html(index_html(), scripts=True)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC_TYPES:
            raise HTTPException(404, f"no static file {name!r}")
        return Response(static_file(name), media_type=STATIC_TYPES[name],
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})

    @app.get("/health")
    def health() -> JSON:
        return JSON({"status": "ok", "cards": len(recognizer.cards), "threshold": recognizer.bundle.threshold,
                     "backend": backend_name(recognizer),
                     "model_variant": recognizer.bundle.manifest.get("model_variant"),
                     "auth_required": expected is not None, "top_k": recognizer.top_k, "exact": recognizer.exact,
                     "min_blur": recognizer.min_blur, "max_glare": recognizer.max_glare,
                     "second_look": recognizer.second_look, "orientation_gate": recognizer.gate is not None,
                     "segmenter": recognizer.segmenter is not None, "corner_refiner": recognizer.refiner is not None,
                     "workers": pool.workers, "queue": pool.queue})

    api = APIRouter(dependencies=[Depends(authorize)])

    def identify_upload(data: bytes, fmt: str) -> dict:
        rgb = decode_rgb(data, fmt)  # on a pool worker: at most `workers` decoded frames in memory
        result = recognizer.identify_frame(rgb)
        out = result.to_json()
        for js, card in zip(out["cards"], result.cards):
            js["crop"] = to_data_url(card.crop) if card.crop is not None else None
            ref = recognizer.bundle.thumbnail(card.card_id) if card.card_id else None
            js["ref_image"] = "data:image/jpeg;base64," + base64.b64encode(ref).decode() if ref else None
        h, w = rgb.shape[:2]
        out.update(scan_id=secrets.token_hex(8), frame_size=[w, h], threshold=recognizer.bundle.threshold,
                   created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        scans.put(out["scan_id"], {**out, "frame": to_data_url(rgb, 82, max_side=960)})
        return out

    @api.post("/identify")
    async def identify(request: Request) -> JSON:
        data, declared = await read_image_upload(request, max_upload_bytes)
        try:
            return JSON(await pool.run(identify_upload, data, check_image(data, declared, max_pixels)))
        except UploadError as e:
            return _error(e.status, str(e))
        except Busy as e:
            return _error(503, f"server busy: {e}; try again shortly", {"Retry-After": "1"})

    @api.get("/scans/{scan_id}", include_in_schema=False)
    def scan_page(scan_id: str) -> HTMLResponse:
        scan = scans.get(scan_id)
        if scan is None:
            raise HTTPException(404, f"no recent scan {scan_id!r} (the server keeps the last {KEEP_SCANS})")
        return html(scan_html(scan))

    @api.get("/cards/{card_id}")
    def card(card_id: str) -> JSON:
        if card_id not in cards_by_id:
            raise HTTPException(404, f"unknown card_id {card_id!r}")
        return JSON(cards_by_id[card_id])

    @api.get("/cards/{card_id}/image")
    def card_image(card_id: str) -> Response:
        jpg = recognizer.bundle.thumbnail(card_id) if card_id in cards_by_id else None
        if jpg is None:
            raise HTTPException(404, f"no reference image for {card_id!r} in this bundle")
        return Response(jpg, media_type="image/jpeg")

    @api.get("/collection")
    def collection_rows() -> JSON:
        return JSON(collection.rows())

    @api.post("/collection")
    async def collection_add(request: Request) -> JSON:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HTTPException(415, f"content type {ctype or 'none'!r}: send application/json")
        try:
            payload = json.loads(await read_body(request, JSON_LIMIT) or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HTTPException(400, f"body is not valid JSON: {e}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("card_id"), str):
            raise HTTPException(400, "send a JSON object with card_id (and quantity, condition, printing, language)")
        card = cards_by_id.get(payload["card_id"])
        if card is None:
            raise HTTPException(404, f"unknown card_id {payload['card_id']!r}")
        opts = {k: payload[k] for k in ("quantity", "condition", "printing", "language") if k in payload}
        try:
            row_id = await run_in_threadpool(collection.add, card, **opts)
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        row = next(r for r in collection.rows() if r["id"] == row_id)
        return JSON(row, status_code=201)

    @api.delete("/collection/{row_id}")
    def collection_remove(row_id: int) -> JSON:
        if not collection.remove(row_id):
            raise HTTPException(404, f"no collection row {row_id}")
        return JSON({"deleted": row_id})

    @api.get("/collection.csv")
    def collection_csv() -> Response:
        buf = io.StringIO(newline="")
        collection.export_csv(buf)
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="collection.csv"'})

    app.include_router(api)
    return app


def serve(bundle_dir: str | Path, host: str = defaults.HOST, port: int = defaults.PORT, token: str | None = None,
          db: str | Path = defaults.DB, backend: str = "auto", threads: int | None = None,
          max_upload_mb: float = defaults.MAX_UPLOAD_MB, allow_hosts: Iterable[str] = (), workers: int | None = None,
          queue: int | None = None, **recognizer_options) -> None:
    """Load the bundle and run the server with uvicorn until interrupted.

    ``host`` defaults to 127.0.0.1 (this machine only); ``--host 0.0.0.0`` exposes it to the network, which
    should go with a ``token``. ``recognizer_options`` (``exact``, ``top_k``, ``min_blur``, ``max_glare``,
    ``second_look``, ``orientation_gate``, ``segmenter``, ``corner_refiner``) go to the ``Recognizer``; onnxruntime gets ``threads``
    (default: the cores shared among the workers).
    Raises ``BundleError`` for a bad bundle.
    """
    import uvicorn

    from ..bundle import Bundle
    from ..pipeline import Recognizer

    workers = workers or default_workers()
    threads = threads or max(1, default_workers() // workers)
    recognizer = Recognizer(Bundle.load(bundle_dir), backend=backend, threads=threads, **recognizer_options)
    app = create_app(recognizer, Collection(db), token=token or None, max_upload_bytes=int(max_upload_mb * 2**20),
                     host=host, allow_hosts=allow_hosts, workers=workers, queue=queue)
    if host not in LOOPBACK and not token:
        print(f"warning: serving on {host} without a token: anyone on the network can use this server and edit "
              "the collection", file=sys.stderr)
    print(f"cardrec-edge: {len(recognizer.cards)} cards, {backend_name(recognizer)} backend, {workers} workers, "
          f"collection {db}; open http://{'localhost' if host in LOOPBACK | WILDCARD else host}:{port}/",
          file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", server_header=False, limit_concurrency=64)
    logging.getLogger("uvicorn.access").addFilter(RedactToken())  # after Config, which sets up uvicorn's logging
    uvicorn.Server(config).run()
