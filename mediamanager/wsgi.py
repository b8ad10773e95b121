import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediamanager.settings")
application = get_wsgi_application()

from integrations.kernel.startup import refuse_development_keys  # noqa: E402  (needs the settings loaded)

refuse_development_keys()  # the server does not start on development keys
