"""{{ cookiecutter.project_name }}: A FastAPI service with a separate job worker, on Postgres and Redis."""
