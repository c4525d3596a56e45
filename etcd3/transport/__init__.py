"""The HTTP/1.1 transport: an I/O-free request writer and response parser (duplex), the
socket and asyncio connection pools for unary calls, and the background streams."""
