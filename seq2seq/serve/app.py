"""The HTTP API: a FastAPI app that translates with one model (or ensemble) loaded once.

    model = load_model(["runs/demo/best.ckpt"], device="cpu")
    app = create_app(model, ServeOptions(batch_wait_ms=5), api_key=None)
    uvicorn.run(app)               # seq2seq-serve does this on a socket it bound itself

Routes (the README's "Serving" section has the full reference):

- ``POST /translate``: ``{"text": [...], "beam_size": 5, "nbest": 1, "alignments": false,
  ...}`` (any :class:`~seq2seq.search.SearchOptions` field) -> ``{"translations": [...]}``.
- ``GET /health``: the model is loaded; device, version, queue and batch counts.
- ``GET /info``: language pair, model options, validation BLEU, limits, search defaults.
- ``GET /``: a page to try the model, with the attention heatmap of each translation.

Every error is JSON, ``{"error": "...", "field": "..."}`` (``field`` where one is at
fault): 400 the body is not JSON; 401 a missing or wrong ``X-API-Key``; 413 too many lines,
a line too long, or a body too large; 415 not ``application/json``; 422 anything else wrong
with the request (wrong types, empty list, unknown field, search option out of range);
429 the queue is full (``Retry-After``); 503 shutting down; 500 the translation failed.

Requests are translated by a :class:`~seq2seq.serve.batcher.DynamicBatcher`: the lines of
the requests that arrive within ``batch_wait_ms`` with the same search options are
translated in one call (sorted and cut into batches by the token budget), by a
:class:`LocalModel` in this process or, as ``seq2seq-serve`` runs it, a
:class:`~seq2seq.serve.model_process.ModelProcess`. Given several replicas of the model
(``seq2seq-serve --workers``), each has a worker thread and they translate side by side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import math
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

import torch
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from seq2seq import __version__
from seq2seq.commands import loading_checkpoint
from seq2seq.export.folder import load_checkpoint_or_folder
from seq2seq.search import SearchOptionError, SearchOptions
from seq2seq.serve.batcher import BatcherClosed, DynamicBatcher, QueueFull
from seq2seq.translator import (
    DEFAULT_MAX_SRC_TOKENS,
    DEFAULT_MAX_TOKENS,
    Translation,
    Translator,
)

SEARCH_FIELDS = tuple(field.name for field in dataclasses.fields(SearchOptions))
REQUEST_FIELDS = ("text", "alignments", *SEARCH_FIELDS)
API_KEY_HEADER = "X-API-Key"
# A JSON string may spell one character in up to 12 bytes (a surrogate pair of \uXXXX).
BYTES_PER_CHAR = 12
ABANDON_AFTER_S = 5.0
BODY_SLACK_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServeOptions:
    """How the server batches and what it refuses.

    max_lines: lines per request (413 beyond).
    max_chars: characters per line (413 beyond).
    max_queue_lines: lines waiting for the translator, all requests together (429 beyond).
    max_beam_size: largest ``beam_size`` (and ``nbest``) a request may ask for (422 beyond).
    max_request_work: the most work one request may ask for, counted as its characters ×
        its beams (or samples) per line (413 beyond), so that one request cannot hold
        a worker for minutes while everyone else waits.
    max_output_tokens: largest output the length options may allow the longest source,
        ``int(max_len_a * max_src_tokens + max_len_b)`` (422 beyond), so that no request
        can make the model decode for minutes.
    batch_wait_ms: how long to gather requests into one translator call.
    max_tokens: the translator's batch budget (padded source tokens × beam size).
    """

    max_lines: int = 64
    max_chars: int = 1000
    max_queue_lines: int = 1000
    max_beam_size: int = 16
    max_output_tokens: int = 512
    max_request_work: int = 50_000
    batch_wait_ms: float = 5.0
    max_tokens: int = DEFAULT_MAX_TOKENS

    def __post_init__(self) -> None:
        for name in ("max_lines", "max_chars", "max_queue_lines", "max_beam_size",
                     "max_output_tokens", "max_request_work", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_queue_lines < self.max_lines:
            raise ValueError(f"max_queue_lines ({self.max_queue_lines}) must be at least "
                             f"max_lines ({self.max_lines}), or a full request never fits")
        if not (math.isfinite(self.batch_wait_ms) and self.batch_wait_ms >= 0):
            raise ValueError(f"batch_wait_ms must be finite and >= 0, got {self.batch_wait_ms}")

    @property
    def max_body_bytes(self) -> int:
        """The largest request body read: room for ``max_lines`` lines of ``max_chars``."""
        return self.max_lines * (self.max_chars * BYTES_PER_CHAR + 8) + BODY_SLACK_BYTES


# ---- the model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """What the server tells about its model and checks requests against.

    checkpoints: per member, ``{"name", "val_bleu", "model"}`` (file name, validation BLEU
    or None, model options).
    """

    source_language: str
    target_language: str
    checkpoints: list[dict[str, Any]]
    attention: bool
    device: str
    max_src_tokens: int


class ServedModel(Protocol):
    """A model the app can serve: :class:`LocalModel` (in this process) or
    :class:`~seq2seq.serve.model_process.ModelProcess` (in a child process, as
    ``seq2seq-serve`` runs it). ``translate`` is called from one thread only."""

    info: ModelInfo

    def translate(self, lines: list[str], search: SearchOptions, alignments: bool,
                  max_tokens: int) -> list[Translation]: ...


@dataclass(frozen=True)
class LocalModel:
    """A translator in this process: its calls run on the batcher's worker thread."""

    translator: Translator
    info: ModelInfo

    def translate(self, lines: list[str], search: SearchOptions, alignments: bool,
                  max_tokens: int) -> list[Translation]:
        """``lines`` translated in one call (sorted and cut into batches of ``max_tokens``)."""
        return list(self.translator.translate_chunks([lines], search, max_tokens=max_tokens,
                                                     alignments=alignments))


def load_model(paths: Sequence[str | os.PathLike], device: str | torch.device = "cpu", *,
               dtype: str | torch.dtype = "float32", weights: Sequence[float] | None = None,
               max_src_tokens: int = DEFAULT_MAX_SRC_TOKENS) -> LocalModel:
    """Read each checkpoint (or model folder, ``hf://org/name``) once; several make an
    ensemble (``weights`` as for :meth:`Translator.from_loaded`), run by the torch backend.

    Raises CheckpointError naming the file: a bad checkpoint, or an ensemble member whose
    vocabularies or language pair differ from the first's.
    """
    checkpoints = []
    for path in paths:
        with loading_checkpoint(os.fspath(path)):
            checkpoints.append(load_checkpoint_or_folder(os.fspath(path), device))
    translator = Translator.from_loaded(checkpoints, paths, dtype=dtype, weights=weights,
                                        max_src_tokens=max_src_tokens)
    first = checkpoints[0]
    described = [{"name": os.path.basename(os.fspath(path)),
                  "val_bleu": checkpoint.metrics.get("val_bleu"),
                  "model": checkpoint.model.config.to_dict()}
                 for path, checkpoint in zip(paths, checkpoints)]
    info = ModelInfo(first.src_lang, first.tgt_lang, described,
                     attention=translator.decoder.has_attention, device=str(translator.device),
                     max_src_tokens=translator.max_src_tokens)
    return LocalModel(translator, info)


# ---- requests ----------------------------------------------------------------------------


class RequestError(Exception):
    """A request refused: the HTTP status, the message, and the field at fault (if one)."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers

    def response(self) -> JSONResponse:
        content = {"error": self.message}
        if self.field is not None:
            content["field"] = self.field
        return JSONResponse(content, status_code=self.status, headers=self.headers)


@dataclass(frozen=True)
class TranslateRequest:
    """A checked ``POST /translate`` body."""

    lines: list[str]
    search: SearchOptions
    alignments: bool

    @property
    def batch_key(self) -> tuple:
        """Requests with equal keys are translated in one call. A seeded sampling request
        goes alone, so that its samples do not depend on the requests beside it."""
        key = (self.search, self.alignments)
        return (*key, object()) if self.search.sampling and self.search.seed is not None else key


def parse_translate_request(body: bytes, options: ServeOptions, *, attention: bool,
                            max_src_tokens: int) -> TranslateRequest:
    """Check a ``POST /translate`` body; :class:`RequestError` names what is wrong."""
    try:
        data = json.loads(body, parse_constant=_not_json)
    except (ValueError, RecursionError) as error:
        raise RequestError(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise RequestError(422, f"the body must be a JSON object, got {_json_type(data)}")
    unknown = [name for name in data if name not in REQUEST_FIELDS]
    if unknown:
        raise RequestError(422, f"unknown field {unknown[0]!r}; the fields are "
                                f"{', '.join(REQUEST_FIELDS)}", unknown[0])
    lines = _check_text(data.get("text"), options)
    alignments = data.get("alignments", False)
    if not isinstance(alignments, bool):
        raise RequestError(422, f"alignments must be true or false, got {_json_type(alignments)}",
                           "alignments")
    if alignments and not attention:
        raise RequestError(422, "alignments need a model with attention; this model has none",
                           "alignments")
    try:
        search = SearchOptions.of(**{name: data[name] for name in SEARCH_FIELDS if name in data})
    except SearchOptionError as error:
        raise RequestError(422, str(error), error.option) from None
    _check_server_limits(search, options, max_src_tokens)
    work = sum(len(line) for line in lines) * search.rows_per_sentence
    if work > options.max_request_work:
        raise RequestError(413, f"text: this request asks for {work} characters × beams, more than "
                                f"the {options.max_request_work} allowed; send fewer or "
                                "shorter lines, or a smaller beam_size", "text")
    return TranslateRequest(lines, search, alignments)


def _check_text(text: object, options: ServeOptions) -> list[str]:
    if text is None:
        raise RequestError(422, "text is required: a list of the lines to translate", "text")
    if not isinstance(text, list):
        raise RequestError(422, f"text must be a list of strings, got {_json_type(text)}", "text")
    if not text:
        raise RequestError(422, "text is an empty list; give at least one line", "text")
    if len(text) > options.max_lines:
        raise RequestError(413, f"text has {len(text)} lines, more than the "
                                f"{options.max_lines} allowed per request", "text")
    for index, line in enumerate(text):
        field = f"text[{index}]"
        if not isinstance(line, str):
            raise RequestError(422, f"{field} must be a string, got {_json_type(line)}", field)
        if len(line) > options.max_chars:
            raise RequestError(413, f"{field} has {len(line)} characters, more than the "
                                    f"{options.max_chars} allowed per line", field)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(422, f"{field} is not valid Unicode (a lone surrogate escape)",
                               field) from None
    return text


def _check_server_limits(search: SearchOptions, options: ServeOptions,
                         max_src_tokens: int) -> None:
    for name in ("beam_size", "nbest"):
        if getattr(search, name) > options.max_beam_size:
            raise RequestError(422, f"{name} must be at most {options.max_beam_size} on this "
                                    f"server, got {getattr(search, name)}", name)
    longest = math.floor(search.max_len_a * max_src_tokens + search.max_len_b)
    if longest > options.max_output_tokens:
        name = "max_len_b" if search.max_len_b > options.max_output_tokens else "max_len_a"
        raise RequestError(
            422, f"{name}: max_len_a={search.max_len_a:g} and max_len_b={search.max_len_b:g} "
                 f"allow a {max_src_tokens}-token source {longest} output tokens, more than "
                 f"the {options.max_output_tokens} this server allows", name)


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON value")


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _finite(score: float | None) -> float | None:
    return score if score is not None and math.isfinite(score) else None


def render(translation: Translation) -> dict[str, Any]:
    """A translation as JSON: the best text and score, every hypothesis, the alignments
    (one per hypothesis) where they were asked for, and ``truncated_from`` (the line's
    subword tokens) where only its first ``max_src_tokens`` were translated."""
    item: dict[str, Any] = {
        "translation": translation.text,
        "score": _finite(translation.score),
        "hypotheses": [{"translation": text, "score": _finite(score)}
                       for text, score in translation.hypotheses],
    }
    if translation.alignments is not None:
        item["alignments"] = [dataclasses.asdict(alignment)
                              for alignment in translation.alignments]
    if translation.truncated_from is not None:
        item["truncated_from"] = translation.truncated_from
    return item


# ---- the app -----------------------------------------------------------------------------


def create_app(model: ServedModel | Sequence[ServedModel], options: ServeOptions | None = None,
               *, api_key: str | None = None) -> FastAPI:
    """The FastAPI app serving ``model``, or replicas of one model translating side by side
    (one worker thread each). With ``api_key``, ``/translate`` and ``/info`` want it in the
    ``X-API-Key`` header; ``/`` and ``/health`` are open."""
    options = options or ServeOptions()
    replicas = list(model) if isinstance(model, Sequence) else [model]
    if not replicas:
        raise ValueError("create_app needs a model to serve")
    model_info = replicas[0].info
    page = resources.files("seq2seq.serve").joinpath("static/index.html").read_text("utf-8")

    def translator(replica: ServedModel) -> Callable[[list[str], tuple], list[Translation]]:
        def translate_lines(lines: list[str], key: tuple) -> list[Translation]:
            search, alignments = key[0], key[1]
            return replica.translate(lines, search, alignments, options.max_tokens)
        return translate_lines

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.batcher = DynamicBatcher([translator(replica) for replica in replicas],
                                           max_wait_s=options.batch_wait_ms / 1000,
                                           max_queue_lines=options.max_queue_lines)
        try:
            yield
        finally:
            # A call still running after the graceful shutdown is abandoned (the worker is
            # a daemon thread), so that the process exits; whoever started a ModelProcess
            # then closes it, which kills a child still busy.
            await asyncio.to_thread(app.state.batcher.close, ABANDON_AFTER_S)

    app = FastAPI(title="seq2seq", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)

    def check_key(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get(API_KEY_HEADER)
        if given is None:
            raise RequestError(401, f"this server needs an API key in the {API_KEY_HEADER} "
                                    "header", API_KEY_HEADER)
        # Starlette decodes headers as latin-1: encoding back gives the bytes sent.
        if not hmac.compare_digest(given.encode("latin-1"), api_key.encode("utf-8")):
            raise RequestError(401, "wrong API key", API_KEY_HEADER)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, error: RequestError) -> JSONResponse:
        return error.response()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        # Starlette logs the traceback; the client gets JSON like every other error.
        return JSONResponse({"error": f"internal error: {type(error).__name__}"},
                            status_code=500)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={
            "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                                       "style-src 'unsafe-inline'; connect-src 'self'",
            "X-Content-Type-Options": "nosniff"})

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        batcher: DynamicBatcher = request.app.state.batcher
        return JSONResponse({"status": "ok", "model_loaded": True,
                             "device": model_info.device, "version": __version__,
                             "workers": batcher.workers,
                             "queued_lines": batcher.queued_lines,
                             "batches": batcher.stats.calls,
                             "requests_translated": batcher.stats.requests,
                             "lines_translated": batcher.stats.lines,
                             "translating_seconds": round(batcher.stats.seconds, 3)})

    @app.get("/info")
    async def info(request: Request) -> JSONResponse:
        check_key(request)
        return JSONResponse({
            "source_language": model_info.source_language,
            "target_language": model_info.target_language,
            "attention": model_info.attention,
            "ensemble_size": len(model_info.checkpoints),
            "val_bleu": model_info.checkpoints[0]["val_bleu"] if len(model_info.checkpoints) == 1
            else None,
            "checkpoints": model_info.checkpoints,
            "device": model_info.device,
            "version": __version__,
            "search_defaults": dataclasses.asdict(SearchOptions()),
            "limits": {"max_lines": options.max_lines, "max_chars": options.max_chars,
                       "max_queue_lines": options.max_queue_lines,
                       "max_beam_size": options.max_beam_size,
                       "max_output_tokens": options.max_output_tokens,
                       "max_request_work": options.max_request_work,
                       "max_src_tokens": model_info.max_src_tokens},
        })

    @app.post("/translate")
    async def translate(request: Request) -> JSONResponse:
        check_key(request)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise RequestError(415, "the body must be JSON, sent with Content-Type: "
                                    f"application/json (got {content_type or 'none'!r})")
        body = await _read_body(request, options.max_body_bytes)
        parsed = parse_translate_request(body, options, attention=model_info.attention,
                                         max_src_tokens=model_info.max_src_tokens)
        batcher: DynamicBatcher = request.app.state.batcher
        try:
            future = batcher.submit(parsed.lines, parsed.batch_key)
        except QueueFull as error:
            raise RequestError(429, f"the server is busy: {error}; try again shortly",
                               headers={"Retry-After": "1"}) from None
        except BatcherClosed as error:
            raise RequestError(503, str(error)) from None
        try:
            translations = await asyncio.wrap_future(future)
        except BatcherClosed as error:
            raise RequestError(503, str(error)) from None
        except Exception as error:  # noqa: BLE001 - logged by the batcher; the client is told
            raise RequestError(500, f"translating failed: {type(error).__name__}: {error}"
                               ) from None
        return JSONResponse({"translations": [render(each) for each in translations]})

    return app


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or a 413 as soon as it is known to pass ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body has {declared} bytes, more than the {limit} allowed")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body has more than the {limit} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)
