# patientkontrakt: the FHIR service as a container. Build: docker build -t patientkontrakt .
# Run:  docker run -p 8000:8000 -e DATABASE_URL=postgresql://user:pass@db/patientkontrakt patientkontrakt
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PK_HOST=0.0.0.0 \
    PK_PORT=8000 \
    PK_DATA_DIR=/var/lib/patientkontrakt

WORKDIR /app
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --home /var/lib/patientkontrakt --create-home patientkontrakt

USER patientkontrakt
EXPOSE 8000
# Migrate, then serve; both read DATABASE_URL / PK_* from the environment.
CMD ["sh", "-c", "patientkontrakt migrate && exec patientkontrakt serve"]
