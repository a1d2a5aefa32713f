"""gunicorn entry point: `gunicorn wsgi:app`. Settings come from CYBERLAB_CONFIG / CYBERLAB_*."""

from cyberlab import create_app

app = create_app()
