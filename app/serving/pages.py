"""Pages for people: the playground at ``/`` and the API docs, every asset served from installed files.

Nothing here loads from a CDN: the playground is plain HTML/CSS/JS shipped in this package
(``app/serving/static/playground``), Swagger UI and ReDoc come from the ``fastapi-offline`` package. The pages
need no API key; the API calls they make do (the key field of the playground sends it as a bearer token).
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

PLAYGROUND = Path(__file__).resolve().parent / "static" / "playground"
DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))  # swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js

# The playground talks only to its own origin; the browser enforces it too.
PLAYGROUND_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                  "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
# The docs pages keep their inline bootstrap scripts and styles, and fetch nothing off this origin.
DOCS_CSP = "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'"
# ReDoc's sidebar footer always shows a logo from its CDN (the URL is fixed in its script, no option turns it off):
# the script is served with that URL replaced by an empty inline image, so the page asks nothing of cdn.redoc.ly.
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"


def add_pages(app: FastAPI) -> None:
    """Serve the playground at / (assets under /playground/) and offline /docs and /redoc.

    The app must be created with ``docs_url=None, redoc_url=None`` so FastAPI's CDN-backed pages are not registered.
    """
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"):
        if not (DOCS_ASSETS / name).is_file():
            raise RuntimeError(f"fastapi-offline is missing {name}; reinstall it (pip install fastapi-offline)")
    redoc_js = (DOCS_ASSETS / "redoc.standalone.js").read_text(encoding="utf-8").replace(REDOC_CDN_LOGO, EMPTY_IMAGE)

    @app.get("/docs-assets/redoc.standalone.js", include_in_schema=False)  # before the mount, so it wins
    def redoc_script() -> Response:
        return Response(redoc_js, media_type="text/javascript; charset=utf-8")

    app.mount("/playground", StaticFiles(directory=PLAYGROUND), name="playground")
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def playground() -> FileResponse:
        return FileResponse(PLAYGROUND / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": PLAYGROUND_CSP, "Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
                                   swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
                                   swagger_favicon_url=f"{root}/docs-assets/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})  # no validator.swagger.io
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}/docs-assets/redoc.standalone.js",
                              redoc_favicon_url=f"{root}/docs-assets/favicon.png", with_google_fonts=False)
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page
