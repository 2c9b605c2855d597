# Stand-in for nginx:1.27-alpine on a machine that has no image registry (.ci/setup-docker.sh): Debian
# bookworm's nginx, logging to the container's output, run in the foreground as the official image does.
# A machine with a registry uses the real image.
FROM trialmatch-local/debian:bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/* \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
