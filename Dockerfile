# The bastion, as a non-root user: SSH proxy (2222) and web console (8080). On PostgreSQL a
# supervisor runs one SSH proxy worker per core ([node] workers) and a console process;
# `docker kill -s HUP` replaces the workers without dropping live sessions, `docker stop`
# (SIGTERM) closes them cleanly. Several containers of this image on one PostgreSQL are
# several nodes (see README).
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/bastion --uid 10001 bastion

# The folders the compose file mounts volumes on exist in the image, owned by the bastion's
# user: Docker gives a new named volume the owner of the folder it is mounted on, so the
# non-root process can write its keys, recordings and public halves.
RUN install -d -o bastion -g bastion -m 0700 /var/lib/bastion/keys /var/lib/bastion/recordings \
 && install -d -o bastion -g bastion -m 0755 /var/lib/bastion/public

WORKDIR /opt/bastion
# Dependencies first, exactly as locked (versions and hashes; [s3] included: boto3 for
# recordings in an S3-compatible bucket shared by the nodes). Regenerate the lock with
#   pip-compile --generate-hashes --strip-extras --extra s3 -o deploy/requirements.lock pyproject.toml
COPY deploy/requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY bastion ./bastion
COPY web ./web
COPY contracts ./contracts
RUN pip install --no-cache-dir --no-deps .

USER bastion
ENV BASTION_CONFIG=/etc/bastion/bastion.toml
EXPOSE 2222 8080
# /healthz answers only while the database does (load balancers take a node out on 503).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["bastion"]
CMD ["serve"]
