"""HTTP: the ASGI edge, the route table, the provider's wire format, the public and admin
routes. The only layer that knows about requests, headers and sockets."""
