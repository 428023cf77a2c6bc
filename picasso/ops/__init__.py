"""What an operator does to a running Picasso, as commands of every service's Faust app.

``faust -A agents.<domain>.app <command> --help`` describes each; the commands themselves are
defined in :mod:`picasso.ops.commands`, their work in the modules beside it: dead letters
(:mod:`picasso.ops.deadletters`), topics and consumer lag (:mod:`picasso.ops.topics`) and
read-model rebuilds (:mod:`picasso.ops.rebuild`).
"""
