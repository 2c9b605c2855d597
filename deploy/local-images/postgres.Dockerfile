# Stand-in for postgres:16-alpine on a machine that has no image registry (.ci/setup-docker.sh): Debian
# bookworm's PostgreSQL (15: bookworm has no 16) behind an entrypoint that honours the official image's
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB / POSTGRES_HOST_AUTH_METHOD and PGDATA, and like it logs
# "database system is ready to accept connections" twice (the init server, then the real one), which is what
# testcontainers waits for (test/support/postgres.ts). A machine with a registry uses the real image.
FROM trialmatch-local/debian:bookworm
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
