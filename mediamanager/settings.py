"""Settings, all read from the environment (django-environ); `.env.example` lists every variable."""

import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The fallback is for development only: with DEBUG off the server, the worker and run_billing refuse it
# (integrations.kernel.startup).
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-development-only-set-SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
# Where the app may send a customer back after 3-D Secure (`return_url`); empty = SITE_URL's origin.
RETURN_URL_ALLOWED_ORIGINS = [o.rstrip("/").lower() for o in env.list("RETURN_URL_ALLOWED_ORIGINS", default=[])]

INSTALLED_APPS = [
    "mediamanager.apps.BackOfficeAdminConfig",  # django.contrib.admin with the back office's site (second factor)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "djmoney",
    "djstripe",
    # Domain apps, top to bottom: plans -> coupons -> payments -> integrations.
    "mediamanager",
    "plans",
    "coupons",
    "payments",
    "payments.gateways.sandbox",
    "integrations",
    "django_q",  # after mediamanager, whose `qcluster` command wraps django-q2's
    "axes",  # staff sign-in lockout
    # Staff second factor: authenticator apps (TOTP), one-time recovery codes, passkeys (WebAuthn).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The admin's and Swagger's static files from the app server itself (gunicorn too), no separate step.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the second factor was passed
    "integrations.kernel.audit.AuditMiddleware",  # who acts, from where: the audit log's context
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "integrations.kernel.api.middleware.ApiMiddleware",
    "integrations.kernel.api.idempotency.IdempotencyMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: answers a locked-out sign-in
]

ROOT_URLCONF = "mediamanager.urls"
WSGI_APPLICATION = "mediamanager.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: PostgreSQL in production and CI; a SQLite file under var/ by default.
SQLITE_PATH = VAR_DIR / "mediamanager.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process and the django-q2 worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Only the reads that ask (integrations.kernel.db.fetch_prepared: the entitlement check) are
    # prepared; Django's own queries never are. Off behind a pooler that cannot keep prepared
    # statements (PgBouncer before 1.21, or without max_prepared_statements).
    # Behind a transaction pooler (PgBouncer): named cursors cannot outlive a transaction there.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
    )
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**31 - 1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Throttles count here: set CACHE_URL (redis://...) so every process shares one budget.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# --- Staff sign-in (PCI DSS 8.2.8, 8.3.4): 5 failures for a user or from an address within 15
# minutes lock that user and that address for 15 minutes (even with the right password); an
# administrator unlocks in the admin (Access attempts: delete). Idle sessions end after 15 minutes.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("STAFF_SIGN_IN_FAILURES", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("STAFF_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one reaching the limit locks
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "integrations.kernel.api.addresses.client_address"  # TRUSTED_PROXY_COUNT
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False
SESSION_COOKIE_AGE = env.int("STAFF_IDLE_MINUTES", default=15) * 60
SESSION_SAVE_EVERY_REQUEST = True  # the 15 minutes run from the last request, not the sign-in

# --- Staff second factor (PCI DSS 8.4): no admin page without it (mediamanager/admin_site.py).
# Passkeys are bound to SITE_URL's host; the browser must be on SITE_URL's origin.
OTP_TOTP_ISSUER = "Media Manager Payments"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a device's secret or its QR code
OTP_WEBAUTHN_RP_ID = urlsplit(SITE_URL).hostname or "localhost"
OTP_WEBAUTHN_RP_NAME = "Media Manager Payments"
OTP_WEBAUTHN_ALLOWED_ORIGINS = [f"{urlsplit(SITE_URL).scheme}://{urlsplit(SITE_URL).netloc}"]
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False  # a passkey is a second factor here, after the password
STAFF_RECOVERY_CODES = env.int("STAFF_RECOVERY_CODES", default=10)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },  # PCI DSS 8.3.6
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True  # serve from the apps' static folders: no collectstatic needed
warnings.filterwarnings("ignore", message="No directory at")  # whitenoise, with no STATIC_ROOT: fine

# --- Security: strict unless DEBUG; `manage.py check --deploy` is clean with production values.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
# Admin messages (a new API key is shown once in one) live in the server-side session, never in a
# cookie: Django's default keeps them in a signed but readable cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
X_FRAME_OPTIONS = "DENY"

# --- Email
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="billing@localhost")

# --- Money
# Currencies that plans may be priced in and customers may pay in.
ENABLED_CURRENCIES = env.list(
    "ENABLED_CURRENCIES",
    default=["EUR", "GBP", "USD", "JPY", "KWD", "CHF", "SEK", "NOK", "DKK", "PLN", "CAD", "AUD", "BRL", "MXN", "INR"],
)
CURRENCIES = ENABLED_CURRENCIES  # django-money's choices
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="EUR")

# --- Tax (payments/tax/, README "Tax"): nothing is taxed until a registration is active. The
# seller's country decides the reverse charge (a verified EU VAT id of another member state) and
# where an EU seller holds the Union OSS; name, address and VAT id are the seller's on invoices.
TAX_SELLER_COUNTRY = env.str("TAX_SELLER_COUNTRY", default="").strip().upper()
TAX_SELLER_NAME = env.str("TAX_SELLER_NAME", default="")
TAX_SELLER_ADDRESS = env.str("TAX_SELLER_ADDRESS", default="")
TAX_SELLER_VAT_ID = env.str("TAX_SELLER_VAT_ID", default="")

# Key for encrypting gateway credentials at rest (Fernet, urlsafe base64 of 32 bytes).
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")


# --- The sandbox gateway: offline test cards. Never on in production unless asked for.
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=DEBUG)
# Failover: a gateway that leaves a call unanswered (timeout, 5xx) takes no new cards or first
# payments for this long while a backup of its region is answering; then it is tried again.
GATEWAY_FAILOVER_SECONDS = env.int("GATEWAY_FAILOVER_SECONDS", default=60)
SANDBOX_TOKENIZE_RATE = env.str("SANDBOX_TOKENIZE_RATE", default="120/min")  # per client address

# --- Support may refund up to these amounts per refund, per currency ("EUR=25,USD=25"); none in
# a currency not listed. Finance refunds any amount.
SUPPORT_REFUND_LIMITS = env.dict("SUPPORT_REFUND_LIMITS", default={"EUR": "25", "USD": "25", "GBP": "20"})

# --- Pay-now links in dunning emails: one invoice each, short-lived, their tries limited.
PAY_LINK_TTL_HOURS = env.int("PAY_LINK_TTL_HOURS", default=72)
PAY_LINK_RATE = env.str("PAY_LINK_RATE", default="5/hour")  # payment tries per link
PAY_LINK_ADDRESS_RATE = env.str("PAY_LINK_ADDRESS_RATE", default="20/hour")  # per client address

# --- Billing
BILLING_ALLOW_TIME_TRAVEL = env.bool("BILLING_ALLOW_TIME_TRAVEL", default=False)
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)
BILLING_RETRY_DAYS = [int(day) for day in env.list("BILLING_RETRY_DAYS", default=["1", "3", "5"])]
BILLING_INCOMPLETE_EXPIRY_HOURS = env.int("BILLING_INCOMPLETE_EXPIRY_HOURS", default=23)
BILLING_PRICE_CHANGE_NOTICE_DAYS = env.int("BILLING_PRICE_CHANGE_NOTICE_DAYS", default=7)
BILLING_BATCH_SIZE = env.int("BILLING_BATCH_SIZE", default=500)

# --- Coupons: failed code attempts (unknown codes at validate, redeem, checkout) per customer and per
# client address, DRF rate syntax; past either, every code attempt answers 429 until the window ends.
COUPON_FAILED_ATTEMPTS_PER_CUSTOMER = env.str("COUPON_FAILED_ATTEMPTS_PER_CUSTOMER", default="20/hour")
COUPON_FAILED_ATTEMPTS_PER_ADDRESS = env.str("COUPON_FAILED_ATTEMPTS_PER_ADDRESS", default="100/hour")

# --- Business customers' tax ids: format and checksum are checked offline (python-stdnum); whether an
# EU VAT id is registered is asked of VIES after it is set, and again after TAX_ID_RECHECK_DAYS. The
# checker is pluggable: VAT_ID_CHECKER names a payments.tax.vies.VatChecker class.
VIES_URL = env.str("VIES_URL", default="https://ec.europa.eu/taxation_customs/vies/rest-api/check-vat-number")
VIES_TIMEOUT_SECONDS = env.float("VIES_TIMEOUT_SECONDS", default=10.0)
VAT_ID_CHECKER = env.str("VAT_ID_CHECKER", default="payments.tax.vies.ViesClient")
TAX_ID_RECHECK_DAYS = env.int("TAX_ID_RECHECK_DAYS", default=182)

# --- Audit log: entries are kept at least a year (PCI DSS 10.5.1); a daily purge removes older ones.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)  # less than 365 is refused

# --- Receipt emails carry the invoice's PDF (rendered by the worker the first time, ~0.2 s each).
RECEIPTS_ATTACH_PDF = env.bool("RECEIPTS_ATTACH_PDF", default=True)
# The email outbox (plans.OutgoingEmail): unsent emails are retried this long, sent ones kept this long.
EMAIL_RETRY_DAYS = env.int("EMAIL_RETRY_DAYS", default=3)
EMAIL_RETENTION_DAYS = env.int("EMAIL_RETENTION_DAYS", default=7)

# --- The dashboard (the admin's first page): the currency it reports in unless another is picked.
METRICS_REPORTING_CURRENCY = env.str("METRICS_REPORTING_CURRENCY", default="EUR")

# --- The event outbox: events older than this (and their webhook delivery log) are purged hourly once
# every connector has handled them and no delivery is still pending (integrations.services.events_purge).
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=400)

# --- Outbound webhooks (integrations/webhooks/, README "Webhooks"). Private, loopback and link-local
# destinations are refused unless WEBHOOKS_ALLOW_PRIVATE_NETWORKS (tests, a receiver on the same host);
# disabling an endpoint emails WEBHOOKS_OPERATOR_EMAIL (empty: ADMINS, through mail_admins).
WEBHOOKS_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", default=False)
WEBHOOKS_OPERATOR_EMAIL = env.str("WEBHOOKS_OPERATOR_EMAIL", default="")
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=15.0)
WEBHOOKS_MAX_IN_FLIGHT = env.int("WEBHOOKS_MAX_IN_FLIGHT", default=32)  # per sender (a django-q2 task)
WEBHOOKS_ENDPOINT_MAX_IN_FLIGHT = env.int("WEBHOOKS_ENDPOINT_MAX_IN_FLIGHT", default=4)  # per endpoint, all senders
WEBHOOKS_SEND_BUDGET_SECONDS = env.float("WEBHOOKS_SEND_BUDGET_SECONDS", default=50.0)  # a task stops claiming after

# --- API
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
CUSTOMER_TOKEN_TTL_SECONDS = env.int("CUSTOMER_TOKEN_TTL_SECONDS", default=3600)
IDEMPOTENCY_KEY_TTL_HOURS = 24
# A request in flight holds its Idempotency-Key this long; a retry after that takes it over (its
# process died). Longer than any request may run: gunicorn kills a worker after --timeout (30 s).
IDEMPOTENCY_LEASE_SECONDS = env.int("IDEMPOTENCY_LEASE_SECONDS", default=90)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["integrations.kernel.api.authentication.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["integrations.kernel.api.permissions.AudiencePermission"],
    "DEFAULT_PAGINATION_CLASS": "integrations.kernel.api.pagination.ApiCursorPagination",
    "DEFAULT_PARSER_CLASSES": ["integrations.kernel.api.parsing.ApiJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["integrations.kernel.api.throttling.CredentialRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"credential": env.str("API_THROTTLE_RATE", default="6000/min")},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "integrations.kernel.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # The client address is the one the last TRUSTED_PROXY_COUNT proxies saw (X-Forwarded-For);
    # 0 = the connection's own address, so a client cannot pick its throttle bucket.
    "NUM_PROXIES": env.int("TRUSTED_PROXY_COUNT", default=0),
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Media Manager Payments API",
    "DESCRIPTION": "Billing back office for OTT and streaming services: plans, customers, payments, "
    "subscriptions and coupons. Authenticate with `Authorization: Bearer <key or customer token>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # Swagger UI from our static files, never a CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PlanIntervalEnum": "plans.models.Plan.Interval",
        "PlanStatusEnum": "plans.models.Plan.Status",
        "PaymentStatusEnum": "payments.models.Payment.Status",
        "InvoiceStatusEnum": "payments.models.Invoice.Status",
        "RefundStatusEnum": "payments.models.Refund.Status",
        "AccessStatusEnum": "plans.models.Access.Status",
        "PlanKindEnum": "plans.models.Plan.Kind",
        "CouponKindEnum": "coupons.models.Coupon.Kind",
        "WebhookEndpointStatusEnum": "integrations.webhooks.models.WebhookEndpoint.Status",
    },
}

# --- django-q2: retry must exceed timeout or a long task is handed out twice; no catch-up replay.
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "mediamanager",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "queue_limit": 50,
    "sync": env.bool("Q_SYNC", default=False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- dj-stripe / Stripe (gateway accounts hold the real keys; these configure dj-stripe itself)
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
DJSTRIPE_ADMIN = env.bool("DJSTRIPE_ADMIN", default=False)  # dj-stripe's mirror models in the admin
STRIPE_TEST_SECRET_KEY = env.str("STRIPE_TEST_SECRET_KEY", default="")
STRIPE_LIVE_SECRET_KEY = env.str("STRIPE_LIVE_SECRET_KEY", default="")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "stripe": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},  # its progress steps on every PDF rendered
        "fontTools": {"level": "WARNING"},  # font subsetting's notes, on every PDF rendered
    },
}

# --- Connectors (integrations/connectors/): an event is handled once it is this old, so that one
# written by a transaction that commits later (and so with an earlier created_at) is not passed by.
CONNECTOR_SETTLE_SECONDS = env.int("CONNECTOR_SETTLE_SECONDS", default=30)
