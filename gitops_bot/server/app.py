"""The Flask application factory."""

from __future__ import annotations

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from gitops_bot import logs
from gitops_bot.config import Settings
from gitops_bot.github import webhooks as github_webhooks
from gitops_bot.intake import webhooks
from gitops_bot.operator import admin, metrics, openapi, status
from gitops_bot.web import appcontext, auth


def create_app(app_settings: Settings | None = None) -> Flask:
    """Build the web app; settings come from the environment unless given.

    Raises ConfigError when a secret is missing outside demo mode.
    """
    app_settings = (app_settings or Settings()).require_secrets()
    logs.protect(app_settings.secret_values())
    app = Flask(__name__)
    # Each request starts and ends with no event, slug or delivery on its log lines.
    app.before_request(logs.clear)
    app.teardown_request(lambda _error: logs.clear())
    # Werkzeug enforces this before the body is read, chunked bodies included.
    app.config["MAX_CONTENT_LENGTH"] = app_settings.max_body_bytes
    appcontext.init_app(app, app_settings)
    auth.init_app(app, app_settings)
    metrics.init_app(app, app_settings.database_path)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(github_webhooks.bp)
    if app_settings.backend == "github" and app_settings.github_webhook_secret is None:
        app.logger.warning(
            "no GitHub webhook secret: merges are noticed only when the writer re-reads the "
            "branch, and deploys are not reported (set GITOPS_BOT_GITHUB_WEBHOOK_SECRET_FILE)"
        )

    @app.get("/healthz")
    def health() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def ready() -> tuple[Response, int]:
        # Intake can decide on slugs and hosts only once the writer has read the branch.
        if appcontext.store().inventory() is None:
            return jsonify({"error": "the state repo has not been read yet"}), 503
        return jsonify({"status": "ok"}), 200

    @app.errorhandler(Exception)
    def unexpected(problem: Exception) -> tuple[Response, int]:
        # Logged with its traceback for the operator; the client gets no internals.
        app.logger.error("unhandled error", exc_info=problem)
        return jsonify({"error": "internal error; the operator has the details"}), 500

    @app.errorhandler(HTTPException)
    def http_error(problem: HTTPException) -> tuple[Response, int]:
        # Clients of a JSON API should never have to parse an HTML error page; the headers
        # the error carries stay (a 405 must say which methods are Allowed).
        response = jsonify({"error": problem.description or problem.name})
        for name, value in problem.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, problem.code or 500

    return app
