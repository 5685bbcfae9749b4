# The Python side of the compose file: Debian's python3-celery, as the teams that keep their
# Python producers and workers run it. No PyPI: everything is a Debian package.
FROM debian:bookworm-slim
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      python3-celery python3-redis \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --create-home app
COPY python_fixtures/tasks.py python_fixtures/pyside.py /app/
COPY docker/producer.py /app/
USER app
WORKDIR /app
