"""The operator console's built files at /console, `/` sent there, and the API docs from local assets.

The console (console/, react-admin) is built by the Makefile into CONSOLE_DIR; this serves it same-origin, so the
refresh cookie and the read-your-writes cookie work without CORS. Hashed files under `assets/` are cached for a
year (a new build has new names); `index.html` is never cached, so a deploy is picked up at the next load. A
client route (`/console/members/...`) that is not a file gets `index.html`, whose router takes it from there.

FastAPI's own /docs and /redoc load their scripts from a CDN, a blank page without internet: /docs here uses the
Swagger UI files the console build copies from npm (`swagger-ui-dist`), and /redoc is not served.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from backend.api.problems import problem
from backend.api.state import app_state
from backend.infrastructure.settings import Settings

CONSOLE = "/console"
SWAGGER = f"{CONSOLE}/swagger-ui"
HASHED_ASSETS = "assets/"
LONG_CACHE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"

router = APIRouter(include_in_schema=False)


def content_security_policy(settings: Settings) -> str:
    """Scripts from this origin only; images and the upload form may reach the bucket too."""
    bucket = ""
    if settings.s3_endpoint_url:
        parts = urlsplit(settings.s3_endpoint_url)
        bucket = f" {parts.scheme}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",  # MUI writes its styles at run time
            f"img-src 'self' data: blob:{bucket}",
            f"connect-src 'self'{bucket}",
            "font-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _resolve(root: Path, path: str) -> Path | None:
    """The file `path` names under `root`, or None (missing, a directory, or outside `root`)."""
    try:
        candidate = (root / path).resolve()
        candidate.relative_to(root.resolve())
    except (ValueError, OSError):
        return None
    return candidate if candidate.is_file() else None


def _not_built(settings: Settings) -> Response:
    return problem(
        404,
        "Not found",
        f"The console is not built ({settings.console_path} has no index.html): run `make console`, or set"
        " CONSOLE_DIR to where its built files are.",
    )


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse(f"{CONSOLE}/", status_code=307)


@router.get(CONSOLE)
async def console_root() -> RedirectResponse:
    return RedirectResponse(f"{CONSOLE}/", status_code=307)


@router.get(CONSOLE + "/{path:path}")
async def console_file(path: str, request: Request) -> Response:
    """A built file, with its cache rule; `index.html` for any client route."""
    settings = app_state(request.app).settings
    root = settings.console_path
    found = _resolve(root, path) if path else None
    headers = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    if found is not None and found.name != "index.html":
        hashed = path.startswith(HASHED_ASSETS)
        return FileResponse(found, headers={**headers, "Cache-Control": LONG_CACHE if hashed else NO_CACHE})
    if path.startswith(HASHED_ASSETS) or (found is None and "." in path.rsplit("/", 1)[-1]):
        return problem(404, "Not found", f"No console file {path!r}.")
    index = _resolve(root, "index.html")
    if index is None:
        return _not_built(settings)
    headers.update({"Cache-Control": NO_CACHE, "Content-Security-Policy": content_security_policy(settings)})
    return FileResponse(index, media_type="text/html", headers=headers)


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI from this server's own files (no CDN)."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title="Memberdesk API",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        oauth2_redirect_url="/docs/oauth2-redirect",
    )


@router.get("/docs/oauth2-redirect")
async def docs_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


def install(app: FastAPI) -> None:
    app.include_router(router)
