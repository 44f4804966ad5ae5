"""Configuration: embedded defaults (a laptop demo), production (environment) and tests.

Config       runs the whole platform with no environment: SQLite under instance/, Huey on SQLite,
             the HIS simulator and the sandbox payment channels (doubles/, plugged in by
             app/doubles_switch.py because HIS_MODE, PAYMENT_MODE, OAUTH_MODE, MESSAGE_MODE and DEMO_MODE
             name them; production names none, so its image may leave doubles/ out).
ProductionConfig reads everything from the environment and refuses to start on a missing or
             development-default secret (see ``ProductionConfig.problems``).
TestConfig   an isolated database per test run; Huey runs tasks inline.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask_appbuilder.security.manager import AUTH_DB

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))

# Development defaults: safe for a laptop, refused in production.
DEV_SECRET_KEY = "dev-only-secret-key-change-me"
DEV_HIS_SECRET = "dev-his-secret"
DEV_HIS_EVENT_SECRET = "dev-his-event-secret"
DEV_WECHAT_TOKEN = "dev-wechat-token"


def _password_policy(password: str) -> None:
    from app.security.passwords import fab_validator

    fab_validator(password)


def _sqlite(name: str) -> str:
    return f"sqlite:///{INSTANCE_DIR / name}"


class Config:
    """Embedded default: everything local, demo data, zh_CN."""

    ENV_NAME = "development"
    SECRET_KEY = DEV_SECRET_KEY
    # The embedded default may be pointed elsewhere (a demo on another port, a benchmark on MariaDB).
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or _sqlite("platform.db")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

    # Huey: "sqlite:///path" or "redis://..."; tasks/__init__ builds the queue from it.
    HUEY_URL = _sqlite("huey.db")
    HUEY_IMMEDIATE = False
    # Shared one-second cache of a doctor's day of slices (app/services/page_cache.py): Redis, or "" for none.
    SLOT_PAGE_CACHE_URL = os.environ.get("SLOT_PAGE_CACHE_URL", "")
    SLOT_PAGE_CACHE_SECONDS = 1
    # Each process keeps the parsed booking rules (booking.*) this long (app/services/settings.py); a change
    # staff save is seen at once by the process that saved it, by the others within these seconds. 0: no copy.
    SETTINGS_CACHE_SECONDS = 5

    # Flask-AppBuilder back-office
    APP_NAME = "妇幼保健院移动挂号缴费平台"
    APP_ICON = ""
    # Flask-AppBuilder's layout with the page as wide as a 1440 px screen (finance's lists have ten columns)
    FAB_BASE_TEMPLATE = "backoffice/layout.html"
    AUTH_TYPE = AUTH_DB
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    FAB_CREATE_DB = False  # the schema comes from Alembic migrations only
    FAB_UPDATE_PERMS = False  # permissions are synced by `flask roles sync` after migrations
    FAB_SECURITY_MANAGER_CLASS = "app.admin.security.HospitalSecurityManager"
    FAB_INDEX_VIEW = "app.admin.home.HomeView"  # 首页: today at a glance and the worklist
    FAB_ADD_SECURITY_API = False
    FAB_ADD_MENU_API = False  # nothing here uses Flask-AppBuilder's REST API (its JSON login is off too)
    FAB_ADD_OPENAPI_VIEWS = False
    FAB_API_SWAGGER_UI = False
    # The staff password policy (app/security/passwords.py) on FAB's own forms too.
    FAB_PASSWORD_COMPLEXITY_ENABLED = True
    FAB_PASSWORD_COMPLEXITY_VALIDATOR = staticmethod(lambda password: _password_policy(password))
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_FOLDER = "translations"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = {
        "zh_CN": {"flag": "cn", "name": "简体中文"},
        "en": {"flag": "gb", "name": "English"},
    }
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 24 * 3600
    # A patient's (permanent) cookie is sent again only when the session changed, not on every request: the
    # sign-in rewrites its "last seen" every 30 s of activity (h5/auth.SEEN_REWRITE), which renews the
    # cookie's 24 h as well; the server-side idle and lifetime checks do not depend on the cookie's expiry.
    SESSION_REFRESH_EACH_REQUEST = False
    H5_SESSION_IDLE_MINUTES = 30  # a patient idle this long signs in again (silently inside WeChat)
    H5_SESSION_MAX_HOURS = 24  # and every patient session ends this long after sign-in
    # Staff idle timeout, session lifetime, lockout and password expiry are settings (security.*).

    # Hardening: failed staff sign-ins (passwords and second-factor codes) are counted per client address
    # and per account, "failures/seconds", in the database (every node sees the same counts); successes
    # never count. Flask-AppBuilder's own limiter counted every POST per address, so it is off.
    AUTH_RATE_LIMITED = False
    LOGIN_FAILURES_PER_CLIENT = "30/900"
    LOGIN_FAILURES_PER_ACCOUNT = "10/900"
    # Card binding: wrong identity details per patient account and per card number (HIS not asked when over).
    BIND_FAILURES_PER_ACCOUNT = "5/3600"
    BIND_FAILURES_PER_CARD = "5/3600"
    # Roles that must sign in with the second factor unless the setting security.totp_required_roles says
    # otherwise ("none" = nobody).
    TOTP_REQUIRED_ROLES = "Admin,Finance"
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are believed (ProxyFix);
    # 0 = none (the embedded default is reached directly). docs/deployment.md: nginx -> 1.
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    MAX_CONTENT_LENGTH = 4 * 1024 * 1024

    # Demo data and accounts (refused in production)
    DEMO_MODE = True

    # HIS adapter
    HIS_MODE = "simulator"  # or "http"
    HIS_SIMULATOR_URL = _sqlite("his_simulator.db")
    HIS_BASE_URL = "http://127.0.0.1:5100/his/v1"
    HIS_APP_ID = "mch-platform"
    HIS_SECRET = DEV_HIS_SECRET
    HIS_TIMEOUT = 8.0
    # HIS -> platform signed API (stop-clinic events, refunds started by the HIS)
    HIS_EVENT_APP_ID = "his"
    HIS_EVENT_SECRET = DEV_HIS_EVENT_SECRET

    # Payment channels
    PAYMENT_MODE = "sandbox"  # or "live"
    SANDBOX_BASE_URL = os.environ.get("SANDBOX_BASE_URL", "http://127.0.0.1:5000/sandbox")
    SANDBOX_STATE_URL = _sqlite("sandbox_channels.db")
    SANDBOX_KEYS_DIR = str(INSTANCE_DIR / "sandbox_keys")
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    PAYMENT_TIMEOUT_MINUTES = 15
    WECHAT_APPID = "wx_sandbox_appid"
    WECHAT_APPSECRET = "dev-wechat-appsecret"
    WECHAT_TOKEN = DEV_WECHAT_TOKEN
    WECHAT_MCHID = "1900000109"
    ALIPAY_APPID = "2021000000000000"

    # Patient sign-in and channel messages (issue 4). "sandbox": the local authorisation page and a
    # push channel recorded in MessagePush; "live": WeChat OAuth / Alipay auth codes and real pushes.
    OAUTH_MODE = "sandbox"
    MESSAGE_MODE = "sandbox"
    SANDBOX_PUSH_FAILURES: dict[str, str] = {}  # channel uid -> error code the sandbox answers with
    WECHAT_ENCODING_AES_KEY = ""  # 服务号 safe mode (消息加解密); empty = plain-text pushes
    # Hosts a message template's link may point at besides PUBLIC_BASE_URL's (comma-separated, https only).
    MESSAGE_LINK_DOMAINS = os.environ.get("MESSAGE_LINK_DOMAINS", "")
    SANDBOX_DEMO_CARDS = True  # the binding page lists simulator cards worth binding (sandbox + simulator)

    # Operations: /metrics is answered with this bearer token, or to these networks when the request did
    # not come through the reverse proxy (app/operations/metrics.py); database numbers kept this long.
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
    METRICS_ALLOW_NETWORKS = os.environ.get("METRICS_ALLOW_NETWORKS", "127.0.0.1/32,::1/128")
    METRICS_DB_CACHE_SECONDS = 15
    # /api/health/ready also asks each payment channel (one query for an order it cannot know)
    HEALTH_CHECK_CHANNELS = True

    # Preflight checks run when the server starts (database, migrations, HIS)
    PREFLIGHT_ON_START = False

    # Names of environment-provided secrets that production requires, with the dev default
    # each must not equal.
    REQUIRED_SECRETS: dict[str, str | None] = {
        "SECRET_KEY": DEV_SECRET_KEY,
        "DATABASE_URL": None,
        "REDIS_URL": None,
        "HIS_SECRET": DEV_HIS_SECRET,
        "HIS_EVENT_SECRET": DEV_HIS_EVENT_SECRET,
        "WECHAT_APPSECRET": "dev-wechat-appsecret",
        "WECHAT_TOKEN": DEV_WECHAT_TOKEN,
        "WECHAT_PAY_APIV3_KEY": None,
        "ALIPAY_PRIVATE_KEY": None,
    }


class ProductionConfig(Config):
    """Production: every setting from the environment; see ``problems`` for the refusals."""

    # Secrets we choose ourselves: at least 32 bytes (等保 2.0 level 3, data confidentiality).
    LONG_SECRETS = ("SECRET_KEY", "HIS_SECRET", "HIS_EVENT_SECRET", "METRICS_TOKEN")
    # Identities the channels check every payment and notification against: refused at start, not at the
    # first payment.
    MERCHANT_IDS = {
        "WECHAT_APPID": "the 服务号 AppID (公众平台 > 基本配置)",
        "WECHAT_MCHID": "the WeChat Pay merchant id (商户号)",
        "ALIPAY_APPID": "the Alipay application id",
        "ALIPAY_SELLER_ID": "the hospital's Alipay seller id (2088...): notifications for another seller are refused",
        "WECHAT_PAY_PRIVATE_KEY": "the path of the WeChat Pay merchant private key (apiclient_key.pem)",
        "WECHAT_PAY_CERT_SERIAL": "the serial number of the WeChat Pay merchant certificate",
        "ALIPAY_PUBLIC_KEY": "the path of Alipay's public key (支付宝公钥)",
    }

    ENV_NAME = "production"
    DEMO_MODE = False
    PAYMENT_MODE = "live"
    HIS_MODE = "http"
    PREFLIGHT_ON_START = True
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_SAMESITE = "Lax"  # the channels return to us by top-level GET redirects
    OAUTH_MODE = "live"
    MESSAGE_MODE = "live"

    def __init__(self, environ: os._Environ | dict | None = None) -> None:
        env = os.environ if environ is None else environ
        self.SECRET_KEY = env.get("SECRET_KEY", "")
        self.SQLALCHEMY_DATABASE_URI = env.get("DATABASE_URL", "")
        self.HUEY_URL = env.get("REDIS_URL", "")
        self.RATELIMIT_STORAGE_URI = self.HUEY_URL or "memory://"
        self.SLOT_PAGE_CACHE_URL = env.get("SLOT_PAGE_CACHE_URL", self.HUEY_URL)
        self.HIS_BASE_URL = env.get("HIS_BASE_URL", "")
        self.HIS_APP_ID = env.get("HIS_APP_ID", Config.HIS_APP_ID)
        self.HIS_SECRET = env.get("HIS_SECRET", "")
        self.HIS_EVENT_SECRET = env.get("HIS_EVENT_SECRET", "")
        self.PUBLIC_BASE_URL = env.get("PUBLIC_BASE_URL", "")
        self.METRICS_TOKEN = env.get("METRICS_TOKEN", "")
        for key in (
            "WECHAT_APPID", "WECHAT_APPSECRET", "WECHAT_TOKEN", "WECHAT_MCHID",
            "WECHAT_PAY_PRIVATE_KEY", "WECHAT_PAY_CERT_SERIAL", "WECHAT_PAY_APIV3_KEY",
            "WECHAT_PAY_PUBLIC_KEY", "WECHAT_PAY_PUBLIC_KEY_ID",
            "ALIPAY_APPID", "ALIPAY_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY", "WECHAT_ENCODING_AES_KEY",
            "ALIPAY_SELLER_ID",
        ):
            setattr(self, key, env.get(key, ""))
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_recycle": 3600}
        self.TRUSTED_PROXY_COUNT = int(env.get("TRUSTED_PROXY_COUNT", "1") or 0)  # nginx, docs/deployment.md

    def problems(self) -> list[str]:
        """Every reason this configuration must not start, each naming its variable."""
        found = []
        for name, dev_default in self.REQUIRED_SECRETS.items():
            value = getattr(self, "HUEY_URL" if name == "REDIS_URL" else (
                "SQLALCHEMY_DATABASE_URI" if name == "DATABASE_URL" else name), "")
            if not value:
                found.append(f"{name} is not set: export {name}=... before starting in production")
            elif dev_default is not None and value == dev_default:
                found.append(f"{name} is still the development default: set a real secret")
        for name in self.LONG_SECRETS:
            value = getattr(self, name, "") or ""
            if value and len(value.encode()) < 32:
                found.append(f"{name} is too short: use at least 32 random bytes (e.g. `openssl rand -hex 32`)")
        apiv3 = self.WECHAT_PAY_APIV3_KEY or ""
        if apiv3 and len(apiv3.encode()) != 32:
            found.append("WECHAT_PAY_APIV3_KEY must be exactly 32 bytes: the APIv3 key set in the WeChat Pay "
                         "merchant platform (商户平台 > API安全)")
        for name, what in self.MERCHANT_IDS.items():
            if not (getattr(self, name, "") or "").strip():
                found.append(f"{name} is not set: {what}")
        if not self.HIS_BASE_URL:
            found.append("HIS_BASE_URL is not set: the hospital's HIS integration endpoint")
        if not self.PUBLIC_BASE_URL.startswith("https://"):
            found.append("PUBLIC_BASE_URL must be the https:// address patients reach")
        return found


class TestConfig(Config):
    """Tests: a throw-away database, inline tasks, no CSRF on forms posted by the test client."""

    ENV_NAME = "test"
    TESTING = True
    WTF_CSRF_ENABLED = False
    HUEY_IMMEDIATE = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", _sqlite("test-platform.db"))
    HUEY_URL = "memory://"
    DEMO_MODE = True
    RATELIMIT_ENABLED = False  # one test client logs in many times
    SLOT_PAGE_CACHE_URL = ""  # the page-cache tests switch it on
    SANDBOX_DEMO_CARDS = False  # tests that want the demo card list switch it on
    HEALTH_CHECK_CHANNELS = False  # the runbook tests switch it on (they serve the sandbox)
    TOTP_REQUIRED_ROLES = "none"  # tests sign in with passwords; the second-factor tests set the setting
