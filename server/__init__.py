"""The washout service: a pure engine (``server.engine``) behind a thin gRPC layer.

Importing this package imports no gRPC: embedders use ``server.engine`` alone.
"""
