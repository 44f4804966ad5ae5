"""Application factory: extensions -> security -> back-office views -> H5 blueprint -> API -> commands ->
doubles (only those the configuration names, app/doubles_switch.py) -> tasks."""

from __future__ import annotations

import functools
import logging
import os

from babel import Locale
from flask import Flask

from app.extensions import appbuilder, csrf, db, migrate
from app.logging_setup import configure_logging

log = logging.getLogger(__name__)


def load_config(name: str | None = None) -> object:
    """The config object for ``name`` (development | production | test), default from APP_ENV."""
    import config as config_module

    name = name or os.environ.get("APP_ENV", "development")
    if name == "production":
        return config_module.ProductionConfig()
    if name == "test":
        return config_module.TestConfig
    return config_module.Config


class ConfigurationRefused(SystemExit):
    """Raised at start-up with one line telling the operator what to fix."""


def create_app(config: object | str | None = None, **overrides) -> Flask:
    """Build the platform. Production refuses to build on an unsafe configuration."""
    if config is None or isinstance(config, str):
        config = load_config(config)
    problems = getattr(config, "problems", None)
    if callable(problems):
        found = problems()
        if found:
            raise ConfigurationRefused("配置错误 / configuration refused: " + "; ".join(found))

    app = Flask(__name__, instance_path=os.environ.get("INSTANCE_DIR") or None,
                instance_relative_config=False)
    app.config.from_object(config)
    app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    configure_logging(app)

    register_extensions(app)
    from app.security import register_security
    from app.security_headers import register_security_headers

    register_security(app)

    register_security_headers(app)
    register_blueprints(app)
    from app.admin.errors import register_error_pages

    register_error_pages(app)
    register_commands(app)
    from app.doubles_switch import plug_in_doubles

    plug_in_doubles(app)
    register_payments(app)
    register_outbox_kinds(app)
    register_tasks(app)
    from app.operations import register_operations

    register_operations(app)
    return app


def register_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (registers every table on the metadata)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    with app.app_context():
        appbuilder.init_app(app, db.session)
        from app.admin import register_admin_views

        register_admin_views(appbuilder)
        appbuilder.post_init()
    _parse_locale_once(app)


@functools.lru_cache(maxsize=16)
def _locale(identifier: str) -> Locale:
    return Locale.parse(identifier)


def _parse_locale_once(app: Flask) -> None:
    """Flask-AppBuilder's selector answers a code ("zh_CN") and Flask-Babel parses it on every request,
    which scans Babel's whole locale list (about 0.5 ms a page); the parsed Locale is immutable."""
    babel = app.extensions["babel"]
    selector = babel.locale_selector

    def select_locale():
        code = selector()
        return _locale(str(code)) if code else None

    babel.locale_selector = select_locale


def register_blueprints(app: Flask) -> None:
    from app.api import register_api
    from app.services.formatting import beijing
    from h5 import h5_blueprint

    # Every page (H5 and back-office) shows a database time through the clock: {{ at|beijing }}.
    app.add_template_filter(beijing, "beijing")
    # ... and compares a status with its table's StrEnum, as the code does:
    # {% if order.status == AppointmentStatus.BOOKED %}
    app.jinja_env.globals.update(status_enums())
    app.register_blueprint(h5_blueprint, url_prefix="/h5")
    register_api(app)


def status_enums() -> dict[str, type]:
    """The StrEnums templates compare statuses with (tests/unit/test_no_bare_statuses.py scans templates too)."""
    from app.billing.states import BillPaymentStatus
    from app.his.interface import InvoiceStatus, ReportStatus
    from app.maternity.states import ClassBookingStatus
    from app.payments.states import PaymentStatus, RefundStatus
    from app.registration.states import AppointmentStatus
    from app.services.states import ExportStatus, SessionStatus
    from app.waitlist.states import WaitlistStatus

    enums = (AppointmentStatus, BillPaymentStatus, ClassBookingStatus, ExportStatus, InvoiceStatus, PaymentStatus,
             RefundStatus, ReportStatus, SessionStatus, WaitlistStatus)
    return {enum.__name__: enum for enum in enums}


def register_commands(app: Flask) -> None:
    from app.cli import register_cli

    register_cli(app)


def register_payments(app: Flask) -> None:
    """The businesses around the money (registration, bills, deposits, classes) plug into the payment core."""
    from app.payments.commands import register_payments as plug_in

    plug_in()


def register_outbox_kinds(app: Flask) -> None:
    """The side effects outside the payment core that are outbox rows (the payment core registers its own in
    ``register_payments``): the HIS calls an ended registration leaves, a waitlist offer, a notice's push, an
    export's build. Registered here, never on import."""
    from app.messages.delivery import register_outbox_kind as notices
    from app.registration.commands import register_outbox_kinds as registration
    from app.reports.exports import register_outbox_kind as exports
    from app.waitlist.commands import register_outbox_kind as waitlist

    registration()
    waitlist()
    notices()
    exports()


def register_tasks(app: Flask) -> None:
    from app import outbox
    from app.services import uow
    from app.tasks import bind_app, huey
    from app.tasks.outbox import run_outbox_task

    outbox.use_queue(run_outbox_task)  # the dispatcher reaches the workers through this, never by import
    uow.after_commit(outbox.dispatch)  # the one dispatcher: after every outermost commit

    if app.config.get("HUEY_IMMEDIATE"):
        huey.immediate = True
    bind_app(app)
    app.extensions["huey"] = huey
