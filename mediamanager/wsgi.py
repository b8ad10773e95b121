import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediamanager.settings")
application = get_wsgi_application()

from integrations.kernel.startup import refuse_to_start  # noqa: E402  (needs the settings loaded)

refuse_to_start()  # not on development keys, nor on a key that cannot open the stored secrets
