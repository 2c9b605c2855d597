# Stand-in for hapiproject/hapi:v8.8.0-1 on a machine that has no image registry (.ci/setup-docker.sh): the
# project's Maven-built HAPI FHIR 8.8.0 test server (test/fhir-server/: the same engine, R4, in-memory H2, CORS
# open, client ids ANY, no search cache) on Debian's Java 17 runtime, listening on 8080 under /fhir like the
# real image, as a non-root user. It reads its settings from its own application.yaml, not the real image's
# hapi.fhir.* variables. A machine with a registry uses the real image.
FROM trialmatch-local/debian:bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
COPY hapi-fhir-test-server.jar /app/hapi-fhir-test-server.jar
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["java", "-Xmx1024m", "-jar", "/app/hapi-fhir-test-server.jar", "--server.port=8080"]
