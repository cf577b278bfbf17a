"""Shared bases of every resource package: route declaration and guard, binders, envelope, errors, the OpenAPI
document, request limits, wire-model bases and time formats, the handlers' context.
"""
