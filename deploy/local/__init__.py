"""The embedded single-machine stack: real local servers that stand in for the cloud ones.

See :mod:`deploy.local.stack` for starting and stopping them.
"""
