"""S3: moto's server, everything in memory.

Ready when it answers ``ListBuckets`` (boto3); then Picasso's bucket is created, publicly
readable.
"""

from __future__ import annotations

import json
from typing import Any

from deploy.local.servers.base import HOST, Launch, Recipe, Site, venv_program
from picasso.settings import LOCAL_DEFAULTS, Settings

BUCKET = Settings().s3_bucket
REGION = Settings().s3_region
CREDENTIALS = {name: LOCAL_DEFAULTS[name]
               for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


def endpoint(port: int, host: str = HOST) -> str:
    return f"http://{host}:{port}"


def client(port: int, host: str = HOST) -> Any:  # botocore builds the client class at run time
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint(port, host),
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        # Fail fast while the server is coming up; the readiness loop does the retrying.
        config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
    )


def create_public_bucket(s3: Any, bucket: str) -> None:
    """Create ``bucket`` with anonymous read, as PUBLIC_MEDIA_URL (``<endpoint>/<bucket>``) needs.

    moto ignores request signatures but does enforce access rules on unsigned requests: a
    browser's plain GET of a private object gets 403, so grant ``s3:GetObject`` to everyone.
    """
    s3.create_bucket(Bucket=bucket)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def prepare(site: Site) -> Launch:
    s3 = client(site.port, site.host)
    return Launch(
        argv=[str(venv_program("moto_server")), "-H", site.bind, "-p", str(site.port)],
        cwd=site.workdir,  # moto keeps everything in memory
        probe=lambda: s3.list_buckets(),
        after_ready=lambda: create_public_bucket(s3, BUCKET),
    )


RECIPE = Recipe("s3", ready_timeout_s=30.0, prepare=prepare)
