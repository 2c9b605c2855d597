# Stand-in for node:20-bookworm-slim on a machine that has no image registry (.ci/setup-docker.sh): Debian
# bookworm (debootstrap --variant=minbase) with the machine's own Node 20 and npm, and the `node` user (uid 1000)
# the official image has and the project's Dockerfile runs as. The machine's CA bundle comes along (Node reads it
# through NODE_EXTRA_CA_CERTS), so the Dockerfile's `npm ci` reaches the registry the way the machine's npm does,
# TLS-inspecting egress proxy included. A machine with a registry uses the real image.
FROM trialmatch-local/debian:bookworm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
CMD ["node"]
