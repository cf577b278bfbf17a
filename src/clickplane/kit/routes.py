"""Declaring an API operation in one place: its route, its OpenAPI entry and the permission it needs.

`Api.route(...)` registers the handler with the router and the document, and wraps it in the
authorization guard: the caller's organization must be the one in the path (else 404, revealing
nothing), and the caller's roles must allow the operation's permission, looked up by operationId in
`domain.permissions.OPERATION_PERMISSIONS` (else 403).
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from blacksheep import Request, Response, Router

from clickplane.auth import permissions
from clickplane.auth.authentication import Caller
from clickplane.kit.docs import COMMON_ERRORS, CloudApiDocs, Produces
from clickplane.kit.envelope import failure
from clickplane.kit.errors import Forbidden, MethodNotAllowed, NotFound
from clickplane.observability.middleware import RouteRecordingRouter

Handler = Callable[..., Awaitable[Response]]


def authorize(caller: Caller, permission: str, method: str, organization_id: uuid.UUID | None,
              service_id: uuid.UUID | None) -> None:
    """Raise NotFound for another organization's path, Forbidden when the roles do not allow it."""
    if organization_id is not None and organization_id != caller.organization_id:
        raise NotFound(f"organization {organization_id} does not exist or is not visible to this API key")
    if permission in permissions.SERVICE_PERMISSIONS and service_id is None and method == "GET":
        allowed = permissions.allows_somewhere(caller.policies, permission)  # a list shows what it may
        where = "any service"
    else:
        resource = permissions.resource_of(permission, caller.organization_id, service_id)
        allowed = permissions.allows(caller.policies, permission, resource)
        where = resource
    if not allowed:
        raise Forbidden(f"this API key's roles do not allow {permission} on {where}; "
                        "ask an admin to assign a role that does")


def no_such_operation(router: RouteRecordingRouter) -> Handler:
    """The router's fallback: 405 with Allow for a path that has operations under other methods, else 404.
    Allow lists HEAD wherever it lists GET, as the router answers HEAD with GET's operation."""

    async def fallback(request: Request) -> Response:
        path = request.path.encode()
        methods = {method.decode() for method in router.routes} | {"HEAD"}
        matches = {method: router.exact_route(method, path)[0] for method in methods}
        routes = [route for route in matches.values() if route is not None]
        if not routes:
            raise NotFound(f"no API operation at {request.method} {request.path}; GET /v1 lists the operations")
        # The path's own route: `.../clickhouseSettings/schema`, not `.../clickhouseSettings/{settingName}`.
        named = min(routes, key=lambda route: len(route.param_names)).pattern
        allowed = sorted(method for method, route in matches.items() if route is not None and route.pattern == named)
        error = MethodNotAllowed(f"{request.path} has no {request.method} operation; use {', '.join(allowed)}")
        return failure(error.status, error.wire_text, [(b"allow", ", ".join(allowed).encode())])

    return fallback


class Api:
    def __init__(self, router: Router, docs: CloudApiDocs) -> None:
        self.router = router
        self.docs = docs

    def route(self, method: str, path: str, operation_id: str, summary: str, tag: str, description: str,
              result: Any, errors: tuple[int, ...] = COMMON_ERRORS, paged: bool = False,
              produces: Produces | None = None, parameters: dict[str, dict[str, Any]] | None = None,
              success_status: int = 200) -> Callable[[Handler], Handler]:
        permission = permissions.OPERATION_PERMISSIONS[operation_id]  # every operation must be in the map

        def register(handler: Handler) -> Handler:
            guarded = handler if permission is None else self._guard(handler, permission, method)
            documented = self.docs.operation(operation_id, summary, tag, description, result,
                                             errors if permission is None else (*errors, 403), paged,
                                             produces, parameters, success_status)(guarded)
            self.router.add(method, path, documented)
            return documented

        return register

    @staticmethod
    def _guard(handler: Handler, permission: str, method: str) -> Handler:
        positions = {name: index for index, name in enumerate(inspect.signature(handler).parameters)}

        def argument(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            index = positions.get(name)
            return args[index] if index is not None and index < len(args) else kwargs.get(name)

        @functools.wraps(handler)
        async def guarded(*args: Any, **kwargs: Any) -> Response:
            authorize(argument("caller", args, kwargs), permission, method, argument("organizationId", args, kwargs),
                      argument("serviceId", args, kwargs))
            return await handler(*args, **kwargs)

        return guarded
