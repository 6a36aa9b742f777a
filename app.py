"""Postline: wiring only. Each route, queue consumer and schedule calls into chalicelib."""

from chalice import Chalice, Rate

from chalicelib.accounts import api as accounts_api
from chalicelib.accounts import service as accounts_service
from chalicelib.core import api as core_api
from chalicelib.core.http import host_guard
from chalicelib.core.logs import configure_logging
from chalicelib.templates import api as templates_api

configure_logging()
app = Chalice(app_name="postline")
app.register_middleware(host_guard, "http")
app.register_blueprint(core_api.bp)
app.register_blueprint(accounts_api.bp)
app.register_blueprint(templates_api.bp)


@app.schedule(Rate(1, unit=Rate.HOURS))
def purge_expired_tokens(event):
    return {"purged": accounts_service.purge_expired_tokens()}
